"""BERT's tokenizer: basic tokenization, then WordPiece (Devlin et al. 2019, "BERT", section 3; Wu et al.
2016, "Google's Neural Machine Translation System", section 4.1).

Text becomes ids in three steps.

1. Normalize. Drop NUL, U+FFFD and control characters; turn every whitespace character into a space;
   put spaces around CJK ideographs, which are written without spaces, so that each is a word. An
   uncased vocabulary also strips accents: decompose (NFD, "é" -> "e" + U+0301) and drop the
   nonspacing marks (category Mn); then lower-case.
2. Pre-tokenize. Split on whitespace, and make every punctuation character a word of its own
   (ASCII symbols such as "$" and "^" count as punctuation too).
3. WordPiece. Cut each word greedily into the longest pieces of the vocabulary, left to right:
   "unaffable" -> "una", "##ffa", "##ble", where "##" marks a piece that continues a word. A word
   that cannot be cut, or is longer than 100 characters, becomes the single piece [UNK].

Then [CLS] ... [SEP] around the pieces, truncation and padding to a batch.

The vocabularies of pretrained BERTs come with HF tokenizers' ``BertTokenizerFast``, and a model
only works with the ids it was trained on, so this tokenizer gives the same ids. It follows the
reference where it differs from the original Python BERT: unassigned characters are kept, the
whitespace set is Unicode's White_Space, the CJK ranges are the reference's, lower-casing is one
character at a time ("Σ" is always "σ"), and "[SEP]" and the other special tokens written in the
text are those tokens. The reference takes character categories from Unicode 8.0 while Python's
``unicodedata`` is newer; ``UNICODE_8`` below says where that matters. One code point still
differs: U+11938, whose decomposition came in Unicode 13.
"""

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from scratchml.errors import ScratchMLError

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                       "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")  # Unicode's White_Space property
CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))  # as the reference has them


def _unassigned(ranges):
    return {chr(cp): "Cn" for lo, hi in ranges for cp in range(lo, hi + 1)}


# Categories as Unicode 8.0 had them, where they matter here and differ from today's. The ranges hold
# the marks, punctuation and format characters that Unicode added since, unassigned ("Cn") in 8.0;
# they also cover the letters between those, and calling a letter unassigned changes nothing here.
# Then three characters that Unicode moved to another category.
UNICODE_8 = _unassigned((
    (0x061D, 0x061D), (0x07FD, 0x07FD), (0x0890, 0x08E2), (0x09FD, 0x09FE), (0x0A76, 0x0A76), (0x0AFA, 0x0AFF),
    (0x0B55, 0x0B55), (0x0C04, 0x0C3C), (0x0C77, 0x0C77), (0x0C84, 0x0C84), (0x0D00, 0x0D00), (0x0D3B, 0x0D3C),
    (0x0D81, 0x0D81), (0x0EBA, 0x0EBA), (0x180F, 0x1886), (0x1ABF, 0x1ACE), (0x1B7D, 0x1B7E), (0x1DF6, 0x1DFB),
    (0x2E43, 0x2E5D), (0xA82C, 0xA82C), (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD),
    (0x10D24, 0x10F89), (0x11070, 0x11074), (0x110C2, 0x110CD), (0x111CF, 0x111CF), (0x1123E, 0x1123E),
    (0x1133B, 0x1133B), (0x11438, 0x1145E), (0x11660, 0x1166C), (0x116B9, 0x116B9), (0x1182F, 0x11FFF),
    (0x12FF1, 0x13438), (0x16E97, 0x16F4F), (0x16FE2, 0x16FE4), (0x1CF00, 0x1CF46), (0x1E000, 0x1E2EF),
    (0x1E944, 0x1E95F),
)) | {"\u166d": "Po", "\u1734": "Mn", "\U000111c9": "Po"}


def category(ch: str) -> str:
    """The Unicode general category of ``ch``, two letters ("Lu", "Mn", "Po", ...)."""
    return UNICODE_8.get(ch) or unicodedata.category(ch)


def is_control(ch: str) -> bool:
    # Tab, newline and carriage return are control characters that count as whitespace instead.
    return ch not in "\t\n\r" and category(ch) in ("Cc", "Cf", "Co")


def is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or category(ch)[0] == "P"


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK)


class CharTable(dict):
    """A table for ``str.translate``, filled as characters come: ord(ch) -> ``fn(ch)``, worked out once
    per character, so that the per-character rules cost a dictionary look-up in C."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, cp: int) -> str:
        self[cp] = out = self.fn(chr(cp))
        return out


def _clean(ch: str) -> str:
    if ch in "\x00\ufffd" or is_control(ch):
        return ""
    return " " if ch in WHITESPACE else f" {ch} " if is_cjk(ch) else ch


CLEAN = CharTable(_clean)
STRIP_MARKS = CharTable(lambda ch: "" if category(ch) == "Mn" else ch)
LOWER = CharTable(str.lower)  # one character at a time, as the reference: "Σ" is always "σ"
ISOLATE_PUNCTUATION = CharTable(lambda ch: f" {ch} " if is_punctuation(ch) else ch)


def normalize(text: str, lowercase: bool = True, strip_accents: bool | None = None) -> str:
    """Step 1: clean the text, space out CJK ideographs, strip accents and lower-case.
    ``strip_accents`` follows ``lowercase`` unless set (uncased BERTs do both)."""
    text = text.translate(CLEAN)
    if lowercase if strip_accents is None else strip_accents:
        text = unicodedata.normalize("NFD", text).translate(STRIP_MARKS)
    return text.translate(LOWER) if lowercase else text


def pre_tokenize(text: str) -> list[str]:
    """Step 2: normalized text -> words, each punctuation character a word of its own."""
    return text.translate(ISOLATE_PUNCTUATION).split()  # after normalize, all whitespace is " "


class Encoding(NamedTuple):
    """A padded batch, NumPy int64 arrays (B, T). ``attention_mask`` is 1 on tokens and 0 on padding;
    ``token_type_ids`` (BERT's segment A/B) are all 0 for single texts."""
    ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray


class WordPiece:
    """A WordPiece tokenizer for a BERT vocabulary (``vocab.txt``: one piece per line, id = line number)."""

    def __init__(self, vocab: dict[str, int], lowercase: bool = True, strip_accents: bool | None = None,
                 max_word_chars: int = 100):
        missing = [t for t in SPECIAL if t not in vocab]
        if missing:
            raise ScratchMLError(f"the vocabulary has no {', '.join(missing)}: is it a BERT vocab.txt?")
        self.vocab, self.lowercase, self.strip_accents = vocab, lowercase, strip_accents
        self.max_word_chars = max_word_chars
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (vocab[t] for t in SPECIAL[:4])
        self._special = re.compile("(" + "|".join(map(re.escape, SPECIAL)) + ")")
        self._pieces = lru_cache(maxsize=1 << 16)(self._wordpiece)  # words repeat: cut each once

    @classmethod
    def load(cls, folder: str | Path) -> "WordPiece":
        """The tokenizer of a BERT model folder: ``vocab.txt``, and ``do_lower_case`` and
        ``strip_accents`` from ``tokenizer_config.json`` when it is there (lower-case otherwise)."""
        folder = Path(folder)
        path = folder / "vocab.txt"
        if not path.is_file():
            raise ScratchMLError(f"{folder} has no vocab.txt: pass the folder of a BERT model")
        lines = path.read_text(encoding="utf-8").split("\n")
        vocab = {t: i for i, t in enumerate(lines[:-1] if lines[-1] == "" else lines)}
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        return cls(vocab, config.get("do_lower_case", True), config.get("strip_accents"))

    def _wordpiece(self, word: str) -> tuple[str, ...]:
        """Step 3: greedy longest-match-first, left to right."""
        if len(word) > self.max_word_chars:
            return ("[UNK]",)
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):  # the longest piece first
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
            else:  # not even one character matches: the whole word is unknown
                return ("[UNK]",)
            pieces.append(piece)
            start = end
        return tuple(pieces)

    def tokenize(self, text: str) -> list[str]:
        """Text -> pieces, without [CLS] and [SEP]: "Unaffable!" -> ["una", "##ffa", "##ble", "!"]."""
        pieces = []
        for i, part in enumerate(self._special.split(text)):  # odd parts are special tokens
            if i % 2:
                pieces.append(part)
                continue
            for word in pre_tokenize(normalize(part, self.lowercase, self.strip_accents)):
                pieces += self._pieces(word)
        return pieces

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """Text -> ids of [CLS] pieces [SEP], keeping the first ``max_length`` - 2 pieces."""
        ids = [self.vocab[p] for p in self.tokenize(text)]
        if max_length is not None:
            ids = ids[:max(max_length - 2, 0)]
        return [self.cls_id, *ids, self.sep_id]

    def encode_batch(self, texts: list[str], max_length: int | None = None) -> Encoding:
        """Texts -> one batch, padded on the right to its longest sequence."""
        return self.pad([self.encode(t, max_length) for t in texts])

    def pad(self, rows: list[list[int]]) -> Encoding:
        """Sequences of ids -> one batch, padded on the right to the longest."""
        T = max(map(len, rows), default=0)
        ids = np.full((len(rows), T), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), T), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        return Encoding(ids, mask, np.zeros_like(ids))
