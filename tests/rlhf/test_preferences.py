"""Reading what made a folder of preference pairs: present, absent (people's judgments) or corrupt."""

import json

import pytest

from scratchml.errors import ScratchMLError
from scratchml.rlhf.preferences import pair_commands


def test_the_commands_of_a_pairs_folder_are_read_back(tmp_path):
    (tmp_path / "commands.json").write_text(json.dumps({"commands": ["scratchml rlhf pairs --out x"]}))
    assert pair_commands(tmp_path) == ["scratchml rlhf pairs --out x"]


def test_pairs_from_elsewhere_name_no_command(tmp_path):
    assert pair_commands(tmp_path) == []


@pytest.mark.parametrize("text", ["{", "[]", '{"commands": "scratchml"}', '{"commands": [1]}', '{"other": []}'])
def test_a_corrupt_commands_file_is_one_clear_error(tmp_path, text):
    (tmp_path / "commands.json").write_text(text)
    with pytest.raises(ScratchMLError, match="commands.json"):
        pair_commands(tmp_path)
