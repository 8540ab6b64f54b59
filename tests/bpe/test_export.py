"""Exports: HF tokenizers and tiktoken load them and give exactly our ids (independent encoders)."""

import json

import pytest
import tokenizers
from hypothesis import given, settings, strategies as st

from scratchml.bpe import Tokenizer
from scratchml.bpe.export import load_tiktoken, save_hf, save_tiktoken, to_hf, to_tiktoken
from scratchml.data import fetch
from scratchml.errors import ScratchMLError

CORPUS = ["Hola, ¿cómo estás?", "Hello, how are you?", "El niño comió pingüino asado.",
          "aaaa aaa aa a", "It's 12345 o'clock!!!  \n\tokay", "¡Qué día! 🙂🙂 e\u0301"] * 3
TRICKY = ["", "\x00", "<eos>", "a<eos>b<pad>", "<eos", "  leading and trailing  ", "\r\n\n \t",
          "don't WE'LL it'S", "1234567", "🙂👨‍👩‍👧", "e\u0301\u0301", "x" * 3000]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(CORPUS, 256 + 3 + 80, progress=False)


@pytest.fixture(scope="module")
def hf(tok):
    return tokenizers.Tokenizer.from_str(json.dumps(to_hf(tok)))


@pytest.fixture(scope="module")
def tt(tok):
    return to_tiktoken(tok)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text() | st.sampled_from(TRICKY), max_size=6).map("".join))
def test_same_ids_as_hf_and_tiktoken(tok, hf, tt, s):
    ids = tok.encode(s)
    assert hf.encode(s, add_special_tokens=False).ids == ids
    assert tt.encode(s, allowed_special="all") == ids


@pytest.mark.parametrize("s", TRICKY)
def test_tricky_strings(tok, hf, tt, s):
    ids = tok.encode(s)
    assert hf.encode(s, add_special_tokens=False).ids == ids
    assert tt.encode(s, allowed_special="all") == ids
    assert hf.decode(ids, skip_special_tokens=False) == s
    assert tt.decode(ids) == s


def test_files_load_in_hf_and_tiktoken(tok, tmp_path):
    save_hf(tok, tmp_path / "tokenizer.json")
    save_tiktoken(tok, tmp_path / "tok.tiktoken")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    tt = load_tiktoken(tmp_path / "tok.tiktoken")
    for s in CORPUS + TRICKY:
        assert hf.encode(s, add_special_tokens=False).ids == tok.encode(s) == tt.encode(s, allowed_special="all")
    assert hf.token_to_id("<eos>") == tok.special_tokens["<eos>"] == tt.encode_single_token("<eos>")


def test_bad_tiktoken_export(tmp_path):
    (tmp_path / "x.tiktoken").write_text("not base64\n")
    with pytest.raises(ScratchMLError, match="cannot load tiktoken export"):
        load_tiktoken(tmp_path / "x.tiktoken")


@pytest.mark.dataset("en-es")
def test_every_en_es_sentence_matches_hf_and_tiktoken():
    """Vocabulary 10,000 trained on both sides of spa.txt; all 237,928 sentences, ids identical."""
    lines = fetch("en-es", "spa.txt").read_text(encoding="utf-8").splitlines()
    texts = [s for line in lines for s in line.split("\t")]
    assert len(texts) == 237_928
    tok = Tokenizer.train(texts, 10_000, progress=False)
    assert tok.vocab_size == 10_000
    ours = tok.encode_batch(texts)
    hf = tokenizers.Tokenizer.from_str(json.dumps(to_hf(tok)))
    theirs = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert [s for s, a, b in zip(texts, ours, theirs) if a != b][:5] == []
    theirs = to_tiktoken(tok).encode_batch(texts, allowed_special="all")
    assert [s for s, a, b in zip(texts, ours, theirs) if a != b][:5] == []
    assert [s for s, ids in zip(texts, ours) if tok.decode(ids) != s][:5] == []
