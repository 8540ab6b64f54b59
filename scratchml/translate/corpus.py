"""The English-Spanish corpus: training pairs, test sets, de-duplication and the validation split.

About 58 % of the Tatoeba test pairs also occur in the training file (both come from tatoeba.org).
A score on sentences the model was trained on measures memory, not translation, so every training
pair whose normalized English *or* Spanish side occurs in either test set is removed.
"""

import unicodedata
import zlib
from dataclasses import dataclass

import regex

from scratchml.data import fetch
from scratchml.errors import ScratchMLError

TESTSETS = {
    "tatoeba": ("tatoeba-test-v2020-07-28.eng", "tatoeba-test-v2020-07-28.spa"),
    "newstest2013": ("newstest2013.eng", "newstest2013.spa"),
}

_NOT_WORD = regex.compile(r"[^\p{L}\p{N}]+")


def normalize(text: str) -> str:
    """Key for de-duplication: NFKC, case-folded, punctuation and spacing removed.
    "I'm   HOME!" and "im home" are the same sentence for this purpose."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", text).strip()


def _read_lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def load_testset(name: str) -> tuple[list[str], list[str]]:
    """English sources and Spanish references of a test set ('tatoeba' or 'newstest2013')."""
    if name not in TESTSETS:
        raise ScratchMLError(f"unknown test set {name!r}; choose one of {', '.join(TESTSETS)}")
    en_file, es_file = TESTSETS[name]
    en, es = _read_lines(fetch("en-es-test", en_file)), _read_lines(fetch("en-es-test", es_file))
    if len(en) != len(es):
        raise ScratchMLError(f"test set {name}: {len(en)} English vs {len(es)} Spanish lines")
    return en, es


def load_pairs() -> list[tuple[str, str]]:
    """All (English, Spanish) pairs of en-es/spa.txt, in file order."""
    pairs = []
    for line in _read_lines(fetch("en-es", "spa.txt")):
        en, _, es = line.partition("\t")
        if en.strip() and es.strip():
            pairs.append((en.strip(), es.strip()))
    return pairs


@dataclass
class Splits:
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    removed: int  # pairs dropped because a side occurs in a test set


def in_validation(english: str, fraction: float) -> bool:
    """Stable split by the English sentence: every translation of one sentence lands on one side."""
    return zlib.crc32(normalize(english).encode()) % 10_000 < fraction * 10_000


def make_splits(pairs: list[tuple[str, str]], valid_fraction: float = 0.02) -> Splits:
    test_keys = set()
    for name in TESTSETS:
        en, es = load_testset(name)
        test_keys.update(map(normalize, en))
        test_keys.update(map(normalize, es))
    train, valid, removed = [], [], 0
    for en, es in pairs:
        if normalize(en) in test_keys or normalize(es) in test_keys:
            removed += 1
        elif in_validation(en, valid_fraction):
            valid.append((en, es))
        else:
            train.append((en, es))
    return Splits(train, valid, removed)
