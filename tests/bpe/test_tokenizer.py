"""Tokenizer: exact round trip, merges equal to a naive reference trainer, files and bad input."""

import json
from collections import Counter

import pytest
import regex
from hypothesis import assume, given, settings, strategies as st

from scratchml.bpe import PATTERN, Tokenizer
from scratchml.errors import ScratchMLError

SPECIALS = ("<pad>", "<bos>", "<eos>")
CORPUS = ["Hola, ¿cómo estás?", "Hello, how are you?", "El niño comió pingüino asado.",
          "aaaa aaa aa a", "abababab abab", "It's 12345 o'clock!!!  \n\tokay", "añoñoño ñaña"] * 3


def naive_train(texts, vocab_size, n_special=3):
    """Reference BPE (as minbpe): recount every pair of the corpus at every merge.

    Same rules as ours: highest count, ties to the smallest (left id, right id); merged bytes that
    already exist reuse their id."""
    pat = regex.compile(PATTERN)
    words = [[list(w.encode()), c] for w, c in Counter(w for t in texts for w in pat.findall(t)).items()]
    vocab = [bytes([i]) for i in range(256)]
    merges = []
    while len(vocab) < vocab_size - n_special:
        stats = Counter()
        for w, c in words:
            for p in zip(w, w[1:]):
                stats[p] += c
        if not stats:
            break
        a, b = min(stats, key=lambda p: (-stats[p], p))
        merged = vocab[a] + vocab[b]
        new = vocab.index(merged) if merged in vocab else len(vocab)
        if new == len(vocab):
            vocab.append(merged)
        merges.append((a, b, new))
        for item in words:
            w, out, j = item[0], [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == (a, b):
                    out.append(new)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            item[0] = out
    return merges


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(CORPUS, 256 + 3 + 60, progress=False)


@pytest.mark.parametrize("corpus,size", [
    (CORPUS, 256 + 3 + 80),
    (["aaaaaaaaaaaaaaaa", "aaaaa", "ab" * 20, "ba" * 7], 256 + 3 + 20),  # overlapping merges, a == b
    (["the cat sat on the mat", "the hat", "a rat that sat"], 300),     # runs out of pairs
    (["x"], 300),
])
def test_merges_equal_naive_reference(corpus, size):
    assert Tokenizer.train(corpus, size, progress=False).merges == naive_train(corpus, size)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abc ñ\n", max_size=30), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=40))
def test_merges_equal_naive_reference_random(corpus, extra):
    assume(any(corpus))  # an all-empty corpus has nothing to merge: hypothesis draws another
    size = 259 + extra
    assert Tokenizer.train(corpus, size, progress=False).merges == naive_train(corpus, size)


def test_specials_get_last_ids_and_vocab_size(tok):
    assert tok.vocab_size == 256 + 60 + 3
    assert [tok.special_tokens[s] for s in SPECIALS] == [316, 317, 318]


# Arbitrary Unicode, spliced with the strings most likely to break a tokenizer.
TRICKY = st.sampled_from(["<eos>", "<eos", "eos>", "<<pad>>", "<", "🙂", "👨\u200d👩", "\u0301", "\x00",
                          "\r\n", "  ", "x" * 2000, "ñ", "'S", "123456", "\ud7ff", "\U0010ffff"])
TEXTS = st.lists(st.text() | TRICKY, max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_roundtrip_arbitrary_unicode(tok, s):
    assert tok.decode(tok.encode(s)) == s
    assert tok.decode(tok.encode(s, allow_special=False)) == s


@pytest.mark.parametrize("s", [
    "", "\x00", "a\x00b", "🙂👍🏽👨‍👩‍👧", "e\u0301 n\u0303 u\u0308", "\u0301\u0301", "x" * 5000,
    "<eos", "<eos>", "<<eos>>", "<bos><eos><pad>", "<EOS> < eos>", "\r\n\r\n  \t\u3000\u2028", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
])
def test_roundtrip_edge_cases(tok, s):
    assert tok.decode(tok.encode(s)) == s


def test_special_tokens_matched_whole(tok):
    eos, bos = tok.special_tokens["<eos>"], tok.special_tokens["<bos>"]
    ids = tok.encode("<bos>Hola<eos><eos>")
    assert ids[0] == bos and ids[-2:] == [eos, eos] and tok.decode(ids[1:-2]) == "Hola"
    assert eos not in tok.encode("<eos>", allow_special=False)
    assert tok.decode(ids, skip_special=True) == "Hola"
    assert all(m[2] < tok.num_base for m in tok.merges)  # merges never produce a special id


def test_accents_stay_inside_words():
    pat = regex.compile(PATTERN)
    assert pat.findall("El niño comió pingüino") == ["El", " niño", " comió", " pingüino"]
    assert pat.findall("cafe\u0301 ok") == ["cafe\u0301", " ok"]  # decomposed é stays in the word


def test_decode_never_fails_in_range(tok):
    assert tok.decode([0xC3]) == "\ufffd"  # half a UTF-8 character
    assert isinstance(tok.decode(list(range(tok.vocab_size))), str)
    for bad in ([-1], [tok.vocab_size], [1.5]):
        with pytest.raises(ScratchMLError, match="ids must be integers"):
            tok.decode(bad)


def test_encode_batch_equals_encode(tok):
    assert tok.encode_batch(CORPUS) == [tok.encode(t) for t in CORPUS]


def test_save_load_roundtrip(tok, tmp_path):
    tok.save(tmp_path / "tok.json")
    tok2 = Tokenizer.load(tmp_path / "tok.json")
    assert tok2.merges == tok.merges and tok2.special_tokens == tok.special_tokens
    assert tok2.encode_batch(CORPUS) == tok.encode_batch(CORPUS)


def test_bad_files(tok, tmp_path):
    p = tmp_path / "tok.json"
    tok.save(p)
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(ScratchMLError, match="not valid JSON"):
        Tokenizer.load(p)
    d = json.loads(text)
    for key, value, msg in [("format", "x", "not a scratchml"), ("merges", [[1, 2]], "merges"),
                            ("merges", [[5000, 1, 256]], "not defined"), ("special_tokens", {"<pad>": 3}, "follow")]:
        p.write_text(json.dumps({**d, key: value}))
        with pytest.raises(ScratchMLError, match=msg):
            Tokenizer.load(p)
    with pytest.raises(ScratchMLError, match="cannot read"):
        Tokenizer.load(tmp_path / "missing.json")


def test_bad_training_input():
    with pytest.raises(ScratchMLError, match="empty corpus"):
        Tokenizer.train(["", ""], 300, progress=False)
    with pytest.raises(ScratchMLError, match="at least 259"):
        Tokenizer.train(["abc"], 258, progress=False)
    with pytest.raises(ScratchMLError, match="distinct"):
        Tokenizer.train(["abc"], 300, special_tokens=["<a>", "<a>"], progress=False)


def test_unknown_special_token(tok):
    with pytest.raises(ScratchMLError, match="unknown special token '<unk>'"):
        tok.special_tokens["<unk>"]
    with pytest.raises(KeyError):  # still a KeyError for code that expects one
        tok.special_tokens["<unk>"]
