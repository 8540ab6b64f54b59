"""``scratchml bpe``: train → encode → decode round trip through the CLI; bad input → exit 1, one line."""

import io
import json
import re

import pytest
import tokenizers

from scratchml.cli.main import main

TEXTS = ["Hola, ¿cómo estás?", "Hello, how are you?", "El niño comió pingüino.", "aaa bbb aaa"] * 5


@pytest.fixture()
def tok_file(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "tok.json"
    assert main(["bpe", "train", "--vocab-size", "300", "--out", str(out), "--no-progress", str(corpus)]) == 0
    return out


def test_encode_decode_stdin_roundtrip(tok_file, capsys, monkeypatch):
    lines = ["Hola <eos> mundo", "", "🙂 ñ"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["bpe", "encode", "--tokenizer", str(tok_file)]) == 0
    ids = capsys.readouterr().out
    assert len(ids.splitlines()) == 3
    monkeypatch.setattr("sys.stdin", io.StringIO(ids))
    assert main(["bpe", "decode", "--tokenizer", str(tok_file)]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_encode_text_with_specials(tok_file, capsys):
    assert main(["bpe", "encode", "--tokenizer", str(tok_file), "--prepend", "<bos>", "--append", "<eos>", "ab"]) == 0
    ids = [int(x) for x in capsys.readouterr().out.split()]
    assert ids[0] == 298 and ids[-1] == 299
    assert main(["bpe", "decode", "--tokenizer", str(tok_file), "--skip-special", *map(str, ids)]) == 0
    assert capsys.readouterr().out == "ab\n"


def test_export_and_stats(tok_file, tmp_path, capsys):
    hf_path = tmp_path / "tokenizer.json"
    assert main(["bpe", "export", str(tok_file), "--format", "hf", "--out", str(hf_path)]) == 0
    assert main(["bpe", "export", str(tok_file), "--format", "tiktoken", "--out", str(tmp_path / "t.tiktoken")]) == 0
    assert json.loads((tmp_path / "t.tiktoken.json").read_text())["special_tokens"]["<eos>"] == 299
    hf = tokenizers.Tokenizer.from_file(str(hf_path))
    capsys.readouterr()
    main(["bpe", "encode", "--tokenizer", str(tok_file), TEXTS[0]])
    assert capsys.readouterr().out.split() == [str(i) for i in hf.encode(TEXTS[0]).ids]
    assert main(["bpe", "stats", "--tokenizer", str(tok_file), str(tmp_path / "corpus.txt")]) == 0
    out = capsys.readouterr().out
    assert "tokens/word" in out and "unused merged tokens" in out


@pytest.mark.parametrize("argv,msg", [
    (["bpe", "encode", "--tokenizer", "{trunc}", "x"], "not valid JSON"),
    (["bpe", "encode", "--tokenizer", "{tok}", "--append", "<unk>", "x"], "unknown special token"),
    (["bpe", "train", "--vocab-size", "300", "--out", "{out}", "{empty}"], "empty corpus"),
    (["bpe", "train", "--vocab-size", "258", "--out", "{out}", "{empty}"], "at least 259"),
    (["bpe", "train", "--vocab-size", "300", "--out", "{out}"], "give text files"),
    (["bpe", "decode", "--tokenizer", "{tok}", "1", "x"], "integer ids"),
    (["bpe", "decode", "--tokenizer", "{tok}", "300"], "in \\[0, 300\\)"),
    (["bpe", "export", "{trunc}", "--format", "hf", "--out", "{out}"], "truncated"),
])
def test_bad_input_exit_1_one_line(tok_file, tmp_path, capsys, argv, msg):
    trunc = tmp_path / "trunc.json"
    trunc.write_text(tok_file.read_text()[:100])
    (tmp_path / "empty.txt").write_text("")
    paths = {"trunc": trunc, "tok": tok_file, "out": tmp_path / "o.json", "empty": tmp_path / "empty.txt"}
    capsys.readouterr()
    assert main([a.format(**paths) for a in argv]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("scratchml: error:")
    assert re.search(msg, err)
