"""The English-Spanish corpora, the test sets, and the training/validation split.

Training data: every pair of en-es/spa.txt (Tatoeba, short everyday sentences) but a validation
split, and optionally News Commentary (long, formal sentences of opinion articles). Nothing is
removed because a test set holds it: Tatoeba-test shares most of its pairs with spa.txt (both come
from tatoeba.org), and those are the commonest sentences of the language, which a translator must
know. The score that measures translation of new text is therefore taken on the test pairs absent
from spa.txt ("tatoeba-unseen") and on those of them that are not even a one-word edit of a
training sentence ("tatoeba-distant", overlap.py); the full test set is reported too, labelled as
overlapping training. News Commentary pairs that occur in newstest2013 are removed (a handful).
"""

import gzip
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache

import regex

from scratchml.data import fetch
from scratchml.errors import ScratchMLError
from scratchml.translate.overlap import NearDuplicates

TESTSETS = {
    "tatoeba": ("tatoeba-test-v2020-07-28.eng", "tatoeba-test-v2020-07-28.spa"),
    "newstest2013": ("newstest2013.eng", "newstest2013.spa"),
}
# Subsets of Tatoeba-test, by what the training data holds (see the module docstring).
SUBSETS = ("tatoeba-unseen", "tatoeba-distant")
NEWS_FILE = "news-commentary-v11.en-es.tsv.gz"
VALID_FRACTION = 0.02       # of Tatoeba's English sentences
NEWS_VALID_FRACTION = 0.01  # of News Commentary's articles
MAX_LENGTH_RATIO = 3.0  # a pair whose sides differ more in characters is misaligned (News Commentary)
# What people type first is a few words long ("Good morning.", "Where is the bathroom?"), and set
# phrases do not translate word by word ("Thank you very much." is "Muchas gracias."): a model learns
# them only by seeing them often. A phrase is a handful of tokens, so extra copies cost little.
PHRASE_WORDS = 4

_NOT_WORD = regex.compile(r"[^\p{L}\p{N}]+")
_LETTER = regex.compile(r"\p{L}")


def normalize(text: str) -> str:
    """Key for comparing sentences: NFKC, case-folded, punctuation and spacing removed.
    "I'm   HOME!" and "im home" are the same sentence for this purpose."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", text).strip()


def _read_lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def load_testset(name: str) -> tuple[list[str], list[str]]:
    """English sources and Spanish references of a test set: 'tatoeba', 'newstest2013', or a subset
    of Tatoeba-test, 'tatoeba-unseen' (both sides absent from spa.txt, even up to case and
    punctuation: ``normalize``) or 'tatoeba-distant' (of those, the ones whose English is not within
    one token edit of a spa.txt English sentence)."""
    if name in SUBSETS:
        return _tatoeba_subset(name)
    if name not in TESTSETS:
        raise ScratchMLError(f"unknown test set {name!r}; choose one of {', '.join([*TESTSETS, *SUBSETS])}")
    en_file, es_file = TESTSETS[name]
    en, es = _read_lines(fetch("en-es-test", en_file)), _read_lines(fetch("en-es-test", es_file))
    if len(en) != len(es):
        raise ScratchMLError(f"test set {name}: {len(en)} English vs {len(es)} Spanish lines")
    return en, es


@cache
def _tatoeba_subset(name: str) -> tuple[list[str], list[str]]:
    pairs = load_pairs()
    english, spanish = {normalize(en) for en, _ in pairs}, {normalize(es) for _, es in pairs}
    test = [(en, es) for en, es in zip(*load_testset("tatoeba"))
            if normalize(en) not in english and normalize(es) not in spanish]
    if name == "tatoeba-distant":
        near = NearDuplicates(en for en, _ in pairs)
        test = [(en, es) for en, es in test if en not in near]
    return [en for en, _ in test], [es for _, es in test]


def load_pairs() -> list[tuple[str, str]]:
    """All (English, Spanish) pairs of en-es/spa.txt, in file order."""
    pairs = []
    for line in _read_lines(fetch("en-es", "spa.txt")):
        en, _, es = line.partition("\t")
        if en.strip() and es.strip():
            pairs.append((en.strip(), es.strip()))
    return pairs


def load_news() -> list[tuple[str, str, str]]:
    """(article, English, Spanish) of News Commentary v11, without the pairs that look misaligned:
    a side without a letter (a lone "·", a number), or sides whose lengths differ more than 3x."""
    rows = []
    with gzip.open(fetch("en-es-news", NEWS_FILE), "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                raise ScratchMLError(f"{NEWS_FILE} line {n}: expected 4 tab-separated fields, got {len(parts)}")
            article, _, en, es = (p.strip() for p in parts)
            if not (_LETTER.search(en) and _LETTER.search(es)):
                continue
            if max(len(en), len(es)) > MAX_LENGTH_RATIO * min(len(en), len(es)):
                continue
            rows.append((article, en, es))
    return rows


@dataclass
class Splits:
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    removed: int = 0  # training pairs dropped because a side occurs in a test set


def in_validation(key: str, fraction: float) -> bool:
    """A stable split by a key: the same key always lands on the same side."""
    return zlib.crc32(normalize(key).encode()) % 10_000 < fraction * 10_000


def _interleave(a: list, b: list) -> list:
    """a[0], b[0], a[1], b[1], ... then the rest of the longer one: any prefix mixes both."""
    out = [x for pair in zip(a, b) for x in pair]
    return out + a[len(b):] + b[len(a):]


def is_phrase(english: str) -> bool:
    return len(english.split()) <= PHRASE_WORDS


def make_splits(pairs: list[tuple[str, str]], valid_fraction: float = VALID_FRACTION,
                news: list[tuple[str, str, str]] | None = None, news_valid_fraction: float = NEWS_VALID_FRACTION,
                tatoeba_copies: int = 1, phrase_copies: int = 0) -> Splits:
    """Tatoeba pairs split by their English sentence (every translation of a sentence lands on one
    side); News Commentary split by article (its sentences continue each other). The validation
    split alternates the two domains; ``tatoeba_copies`` repeats the Tatoeba training pairs, whose
    short sentences would otherwise be a small share of the tokens next to the news, and
    ``phrase_copies`` repeats the phrases among them (``is_phrase``) that many times more."""
    train = [(en, es) for en, es in pairs if not in_validation(en, valid_fraction)]
    valid = [(en, es) for en, es in pairs if in_validation(en, valid_fraction)]
    train = train * tatoeba_copies + [(en, es) for en, es in train if is_phrase(en)] * phrase_copies
    removed = 0
    if news is not None:
        news_train, news_valid, removed = _split_news(news, news_valid_fraction)
        train += news_train
        valid = _interleave(valid, news_valid)
    return Splits(train, valid, removed)


def _split_news(news: list[tuple[str, str, str]], valid_fraction: float):
    """(training pairs, validation pairs, pairs removed): whole articles go to validation, and pairs
    with a side that occurs in newstest2013 (normalized) go nowhere."""
    en, es = load_testset("newstest2013")
    test_keys = set(map(normalize, en)) | set(map(normalize, es))
    train, valid, removed = [], [], 0
    for article, e, s in news:
        if normalize(e) in test_keys or normalize(s) in test_keys:
            removed += 1
        else:
            (valid if in_validation(article, valid_fraction) else train).append((e, s))
    return train, valid, removed


def validation_pairs(domain: str) -> list[tuple[str, str]]:
    """The held-out validation pairs of one domain, 'tatoeba' or 'news', for choosing between models."""
    if domain == "tatoeba":
        return [(en, es) for en, es in load_pairs() if in_validation(en, VALID_FRACTION)]
    if domain == "news":
        return _split_news(load_news(), NEWS_VALID_FRACTION)[1]
    raise ScratchMLError(f"unknown validation domain {domain!r}; choose tatoeba or news")
