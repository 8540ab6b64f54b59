"""The translator's command line on bad input: one clear line on stderr, exit code 1, no traceback."""

import io
import sys

import pytest

from scratchml.cli.main import main
from scratchml.translate.train import train
from tests.translate.conftest import toy_config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, request):
    from tests.translate.conftest import toy_pair
    import random

    from scratchml.translate.corpus import Splits
    rng = random.Random(0)
    pairs = [toy_pair(rng) for _ in range(32)]
    out = tmp_path_factory.mktemp("nmt")
    train(toy_config(max_steps=2), out, splits=Splits(pairs, pairs[:4], 0), progress=False)
    return out / "checkpoint"


def run(args, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    rc = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def test_translates_arguments_and_stdin_lines(model_dir, capsys, monkeypatch):
    rc, out, _ = run(["translate", "--model", str(model_dir), "--beam", "2", "the cat", "a dog"], capsys)
    assert rc == 0 and len(out.splitlines()) == 2
    rc, out, _ = run(["translate", "--model", str(model_dir)], capsys, b"the cat\n\nred house\n", monkeypatch)
    assert rc == 0 and len(out.splitlines()) == 3 and out.splitlines()[1] == ""


def test_empty_text_is_an_error(model_dir, capsys):
    rc, _, err = run(["translate", "--model", str(model_dir), "  "], capsys)
    assert rc == 1 and "empty" in err and len(err.strip().splitlines()) == 1


def test_invalid_utf8_on_stdin(model_dir, capsys, monkeypatch):
    rc, _, err = run(["translate", "--model", str(model_dir)], capsys, b"fine\n\xff\xfe bad\n", monkeypatch)
    assert rc == 1 and "line 2 is not valid UTF-8" in err


def test_very_long_input_is_split_with_a_warning(model_dir, capsys):
    text = "the cat sees a red house. " * 400  # 10,400 characters, far beyond max_len tokens
    rc, out, err = run(["translate", "--model", str(model_dir), "--beam", "1", text], capsys)
    assert rc == 0 and len(out.splitlines()) == 1 and "sentence by sentence" in err


@pytest.mark.parametrize("damage, message", [
    ("missing", "does not exist"),
    ("weights", "corrupt"),
    ("config", "corrupt"),
    ("other-config", "does not match its config.json"),
])
def test_broken_model_directories(model_dir, tmp_path, capsys, damage, message):
    import json
    import shutil
    broken = tmp_path / "m"
    if damage != "missing":
        shutil.copytree(model_dir, broken)
    if damage == "weights":
        (broken / "model.safetensors").write_bytes(b"\x00" * 20)
    elif damage == "config":
        (broken / "config.json").write_text('{"model": ')
    elif damage == "other-config":
        meta = json.loads((broken / "config.json").read_text())
        meta["model"]["d_model"] = 64
        (broken / "config.json").write_text(json.dumps(meta))
    rc, _, err = run(["translate", "--model", str(broken), "hello"], capsys)
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1


def test_attention_heatmap_and_export(model_dir, tmp_path, capsys):
    png = tmp_path / "attn.png"
    rc, out, _ = run(["nmt", "attention", "--model", str(model_dir), "the big cat", "--out", str(png)], capsys)
    assert rc == 0 and png.stat().st_size > 1000
    rc, out, _ = run(["nmt", "export", str(model_dir), "--out", str(tmp_path / "half")], capsys)
    assert rc == 0 and (tmp_path / "half" / "README.md").exists()
    rc, out, _ = run(["translate", "--model", str(tmp_path / "half"), "the big cat"], capsys)
    assert rc == 0 and out.strip()
