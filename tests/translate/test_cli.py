"""The translator's command line on bad input and closed or failing streams: one clear line on stderr,
exit code 1, no traceback."""

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from scratchml.cli.main import main
from scratchml.translate.train import train
from tests.translate.conftest import toy_config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, request):
    import random

    from scratchml.translate.corpus import Splits
    from tests.translate.conftest import toy_pair
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


@pytest.mark.parametrize("command", [["translate"], ["nmt", "attention"]])
def test_invalid_utf8_argument(model_dir, capsys, command):
    # Python passes undecodable argv bytes on as lone surrogates (PEP 383)
    bad = b"\xff\xfe bad".decode("utf-8", "surrogateescape")
    rc, _, err = run([*command, "--model", str(model_dir), bad], capsys)
    assert rc == 1 and f"argument {len(command) + 3} is not valid UTF-8" in err


def test_a_file_is_not_a_model_directory(model_dir, capsys):
    rc, _, err = run(["translate", "--model", str(model_dir / "model.safetensors"), "hello"], capsys)
    assert rc == 1 and "is a file" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("key, value, message", [
    ("n_heads", 0, "n_heads=0 must be at least 1"),
    ("d_model", "256", "must be of type int"),
    ("max_len", 1, "max_len=1 must be at least 2"),
    ("dropout", 1.5, "dropouts"),
    ("eos_id", 10**9, "special token ids"),
])
def test_corrupt_config_values(model_dir, tmp_path, capsys, key, value, message):
    broken = tmp_path / "m"
    shutil.copytree(model_dir, broken)
    meta = json.loads((broken / "config.json").read_text())
    meta["model"][key] = value
    (broken / "config.json").write_text(json.dumps(meta))
    rc, _, err = run(["translate", "--model", str(broken), "hello"], capsys)
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1


def test_resuming_an_exported_model_is_refused(model_dir, tmp_path, capsys):
    rc, _, _ = run(["nmt", "export", str(model_dir), "--out", str(tmp_path / "run" / "checkpoint")], capsys)
    assert rc == 0
    rc, _, err = run(["nmt", "train", "--resume", "--size", "tiny", "--out", str(tmp_path / "run")], capsys)
    assert rc == 1 and "not a training checkpoint" in err


def test_resuming_a_checkpoint_without_training_settings_is_refused(model_dir, tmp_path, capsys):
    shutil.copytree(model_dir, tmp_path / "run" / "checkpoint")
    meta_file = tmp_path / "run" / "checkpoint" / "config.json"
    meta_file.write_text(json.dumps({"model": json.loads(meta_file.read_text())["model"]}))
    rc, _, err = run(["nmt", "train", "--resume", "--size", "tiny", "--out", str(tmp_path / "run")], capsys)
    assert rc == 1 and "corrupt" in err


def test_attention_into_a_new_folder_and_unwritable_output(model_dir, tmp_path, capsys):
    png = tmp_path / "new" / "folder" / "attn.png"
    rc, _, _ = run(["nmt", "attention", "--model", str(model_dir), "the cat", "--out", str(png)], capsys)
    assert rc == 0 and png.exists()
    (tmp_path / "file").write_text("")
    rc, _, err = run(["nmt", "attention", "--model", str(model_dir), "the cat",
                      "--out", str(tmp_path / "file" / "attn.png")], capsys)
    assert rc == 1 and "error" in err and len(err.strip().splitlines()) == 1


def test_threads_flag(model_dir, capsys):
    import torch
    before = torch.get_num_threads()
    try:
        rc, out, _ = run(["translate", "--model", str(model_dir), "--threads", "1", "the cat"], capsys)
        assert rc == 0 and torch.get_num_threads() == 1 and out.strip()
    finally:
        torch.set_num_threads(before)
    rc, _, err = run(["translate", "--model", str(model_dir), "--threads", "-1", "the cat"], capsys)
    assert rc == 1 and "--threads" in err and len(err.strip().splitlines()) == 1


def test_typed_text_is_normalized_unless_asked_not_to(model_dir, capsys, monkeypatch):
    from scratchml.translate.translator import Translator
    seen, segment = [], Translator.segment
    def spy(self, text, split):
        seen.append(text)
        return segment(self, text, split)

    monkeypatch.setattr(Translator, "segment", spy)
    assert run(["translate", "--model", str(model_dir), "how are you"], capsys)[0] == 0
    assert run(["translate", "--model", str(model_dir), "--no-normalize", "how are you"], capsys)[0] == 0
    assert seen == ["How are you?", "how are you"]
    assert run(["translate", "--model", str(model_dir), "😀 123"], capsys)[1] == "😀 123\n"  # no letter: as it is
    assert len(seen) == 2


def test_texts_are_translated_sentence_by_sentence_unless_asked_not_to(model_dir, capsys, monkeypatch):
    from scratchml.translate.translator import Translator
    seen, translate_ids = [], Translator.translate_ids
    monkeypatch.setattr(Translator, "translate_ids",
                        lambda self, sources, *a: seen.append(len(sources)) or translate_ids(self, sources, *a))
    text = "The cat sees Mr. Li. The dog runs!"
    assert run(["translate", "--model", str(model_dir), text], capsys)[0] == 0
    assert run(["translate", "--model", str(model_dir), "--no-split", text], capsys)[0] == 0
    assert seen == [2, 1]


@pytest.mark.parametrize("args, message", [
    (["translate", "--beam", "65", "cat"], "beam must be within 1..64, got 65"),
    (["nmt", "eval", "--limit", "-3"], "limit must be 0 (all sentences) or more, got -3"),
])
def test_out_of_range_numbers(model_dir, capsys, args, message):
    rc, _, err = run(args + ["--model", str(model_dir)], capsys)
    assert rc == 1 and message in err


def test_a_batch_gives_each_text_its_own_translation(model_dir):
    """Texts without a word and empty texts take no decoding slot, so the others stay aligned."""
    from scratchml.translate.translator import Translator
    translator = Translator.load(model_dir)
    texts = ["😀", "the cat sees a dog", "", "123", "red house", "a tree. the dog runs"]
    words = [texts[i] for i in (1, 4, 5)]
    alone = translator.translate(words)  # the same batch of decodes, so the same padding and lengths
    assert translator.translate(texts) == ["😀", alone[0], "", "123", alone[1], alone[2]]


# ---- standard streams and progress ---------------------------------------------------------------

def run_command(model_dir, redirection: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`scratchml translate` as a user runs it, with a shell redirection (`<&-`, `>&-`)."""
    command = [sys.executable, "-m", "scratchml.cli.main", "translate", "--model", str(model_dir), *args]
    return subprocess.run(["sh", "-c", f'exec "$0" "$@" {redirection}', *command], text=True, timeout=120,
                          **{"capture_output": True, **kwargs})


def assert_one_line_error(proc, message):
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("scratchml: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr


def test_closed_stdin(model_dir):
    assert_one_line_error(run_command(model_dir, "<&-"), "stdin is closed")


def test_closed_stdout(model_dir):
    assert_one_line_error(run_command(model_dir, ">&-", "the cat"), "stdout is closed")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_translation_into_a_full_disk(model_dir):
    with open("/dev/full", "w") as full:
        proc = run_command(model_dir, "", "--beam", "1", "the cat", stdout=full, stderr=subprocess.PIPE,
                           capture_output=False)
    assert_one_line_error(proc, "cannot write to stdout: No space left on device")


@pytest.mark.parametrize("texts, stdin, terminal, bar", [
    (["the cat"], None, True, False),                        # a sentence: done before a bar could help
    (["the cat sees a red house. " * 100], None, True, True),  # one long text
    ([], b"the cat\n" * 30, True, True),                     # many lines
    ([], b"the cat sees a red house. " * 100, False, False),  # stderr is a log file: no redraws in it
], ids=["sentence", "long-text", "many-lines", "log-file"])
def test_progress_bar_for_large_inputs_on_a_terminal(model_dir, capsys, monkeypatch, texts, stdin, terminal, bar):
    from scratchml.translate.translator import Translator
    seen = []
    monkeypatch.setattr(Translator, "translate", lambda self, texts, **kw: seen.append(kw["progress"]) or texts)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    rc, _, _ = run(["translate", "--model", str(model_dir), *texts], capsys, stdin, monkeypatch)
    assert rc == 0 and seen == [bar]
