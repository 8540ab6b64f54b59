"""``scratchml llm train | generate | score | export | import-hf`` end to end with a tiny random GPT, and
every bad input ending in one stderr line and exit status 1."""

import json

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.llm import checkpoint, imdb
from scratchml.llm.model import GPT, GPTConfig
from tests.cli.cli_run import assert_one_line_error, run

TEXTS = ["This movie was great. The acting was great too.", "A terrible film.\nI walked out after an hour."] * 10


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt")
    tok = Tokenizer.train(TEXTS, 280, ["<|endoftext|>"], progress=False)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=32, d_model=32, n_layers=2, n_heads=4,
                          eot_id=tok.special_tokens["<|endoftext|>"]))
    checkpoint.save(folder, model, tok, {})
    return folder


def test_generate_streams_one_text_and_prints_several(capsys, tiny):
    args = ["llm", "generate", "This movie", "--model", tiny, "--max-new-tokens", "8", "--seed", "1"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and out.startswith("This movie") and out.endswith("\n")
    assert run(capsys, *args)[1] == out  # the seed decides
    code, out, _ = run(capsys, "llm", "generate", "A", "B", "-n", "2", "--model", tiny, "--max-new-tokens", "4",
                       "--greedy")
    assert code == 0 and [line for line in out.splitlines() if line.startswith("---")] == \
        ["--- 1/4", "--- 2/4", "--- 3/4", "--- 4/4"]
    code, out, _ = run(capsys, "llm", "generate", "--model", tiny, "--max-new-tokens", "4")  # from scratch
    assert code == 0


def test_a_prompt_longer_than_the_context_is_cut_from_the_left_with_a_warning(capsys, tiny):
    code, out, err = run(capsys, "llm", "generate", "great " * 40, "--model", tiny, "--max-new-tokens", "8")
    assert code == 0 and "warning: the prompt has" in err and "only its last 24 are used" in err


def test_score_prints_bits_per_byte_of_a_file_or_of_jsonl_documents(capsys, tiny, tmp_path):
    (tmp_path / "a.txt").write_text(TEXTS[0], encoding="utf-8")
    code, out, _ = run(capsys, "llm", "score", tmp_path / "a.txt", "--model", tiny)
    one = json.loads(out)
    assert code == 0 and one["bytes"] == len(TEXTS[0]) and one["documents"] == 1 and one["bits_per_byte"] > 0
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in TEXTS[:2]) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "llm", "score", tmp_path / "b.jsonl", "--jsonl", "--model", tiny)
    two = json.loads(out)
    assert code == 0 and two["documents"] == 2 and two["bytes"] == sum(len(t.encode()) for t in TEXTS[:2])


def test_jsonl_lines_split_only_at_newlines(capsys, tiny, tmp_path):
    # json.dumps(ensure_ascii=False) leaves U+2028 and U+0085 unescaped; they are not line ends in JSON lines
    texts = ["one\u2028two", "three\x85four"]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
                                      encoding="utf-8")
    code, out, _ = run(capsys, "llm", "score", tmp_path / "u.jsonl", "--jsonl", "--model", tiny)
    assert code == 0 and json.loads(out)["documents"] == 2


def test_export_and_import_hf_give_back_the_same_model(capsys, tiny, tmp_path):
    assert run(capsys, "llm", "export", tiny, "--format", "hf", "--out", tmp_path / "hf")[0] == 0
    assert_one_line_error(run(capsys, "llm", "export", tiny, "--out", tmp_path / "hf"), "exists and is not empty")
    assert_one_line_error(run(capsys, "llm", "import-hf", tmp_path / "hf", "--out", tmp_path / "hf"),
                          "is the folder being read")
    assert run(capsys, "llm", "import-hf", tmp_path / "hf", "--out", tmp_path / "back")[0] == 0
    a, _, _ = checkpoint.load(tiny)
    b, _, _ = checkpoint.load(tmp_path / "back")
    assert all(torch.equal(p, b.state_dict()[k]) for k, p in a.state_dict().items())


def test_train_a_tiny_model_and_resume(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(imdb, "training_texts", lambda fraction, limit=0: (TEXTS[:-4], TEXTS[-4:]))
    args = ["llm", "train", "--out", tmp_path, "--vocab-size", "280", "--context", "16", "--d-model", "32",
            "--n-layers", "1", "--n-heads", "2", "--batch-size", "2", "--max-steps", "6", "--eval-every", "3",
            "--no-bf16"]
    code, out, _ = run(capsys, *args, "--stop-after", "2")
    assert code == 0 and json.loads(out)["steps"] == 2
    code, out, _ = run(capsys, *args, "--resume")
    assert code == 0 and json.loads(out)["finished"]
    assert "--stop-after 2" in (tmp_path / "model" / "README.md").read_text()
    assert_one_line_error(run(capsys, *args), "already holds a checkpoint")


@pytest.mark.parametrize("args,message", [
    (["generate", "x", "--temperature", "0"], "temperature must be above 0"),
    (["generate", "x", "--top-p", "1.5"], "top-p must be in (0, 1]"),
    (["generate", "x", "--max-new-tokens", "32"], "--max-new-tokens must be between 1 and 31"),
    (["generate", "x", "-n", "0"], "-n times the prompts must be between 1 and 256"),
    (["generate", "x", "y", "-n", "200"], "-n times the prompts must be between 1 and 256"),
    (["score", "NOFILE"], "cannot read NOFILE"),
])
def test_bad_input_is_one_line(capsys, tiny, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run(capsys, "llm", *args, "--model", tiny), message)


def test_bad_files_and_models_are_one_line(capsys, tiny, tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    assert_one_line_error(run(capsys, "llm", "score", tmp_path / "bin.txt", "--model", tiny), "is not UTF-8 text")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": 1}\n')
    assert_one_line_error(run(capsys, "llm", "score", tmp_path / "bad.jsonl", "--jsonl", "--model", tiny),
                          'line 2 has no "text" string')
    assert_one_line_error(run(capsys, "llm", "generate", "x", "--model", tmp_path / "none"), "is not a model folder")
    (tmp_path / "broken").mkdir()
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / "broken" / name).write_bytes((tiny / name).read_bytes())
    (tmp_path / "broken" / "model.safetensors").write_bytes((tiny / "model.safetensors").read_bytes()[:100])
    assert_one_line_error(run(capsys, "llm", "generate", "x", "--model", tmp_path / "broken"),
                          "not a readable safetensors file")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    assert_one_line_error(run(capsys, "llm", "generate", "x", "--model", tmp_path / "hf"), "import-hf")
    assert_one_line_error(run(capsys, "llm", "import-hf", tmp_path / "hf", "--out", tmp_path / "o"),
                          "no model.safetensors")
