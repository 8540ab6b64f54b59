"""The IMDb movie reviews (Maas et al. 2011), as text for a language model.

Files (``SCRATCHML_DATA/imdb``, see ``scratchml.data.registry``): ``train``, ``unsup`` and ``test``, one
``{"id", "rating", "label", "text"}`` JSON object per line, gzip'd.

Cleaning: the reviews were scraped from web pages, and their line breaks are still the HTML tag
``<br />``, about 4 per review (306,816 in train + unsup). Each becomes a newline, so the model learns
paragraphs as text has them; nothing else changes. Other markup is too rare to matter (``<i>``: 7
times in the 25,000 training reviews) and stays as it is, as do HTML entities (``&#8230;``: twice).

Splits: the model trains on ``train`` + ``unsup`` (75,000 reviews, 99.6 MB) minus a held-out part for
validation, picked by a hash of each review's split and id (so it never depends on the order of
the files); ``test`` is never trained on.
"""

import gzip
import hashlib
import json
from dataclasses import dataclass

from scratchml.data import fetch
from scratchml.errors import ScratchMLError

TRAINING_SPLITS = ("train", "unsup")


@dataclass(frozen=True)
class Review:
    split: str
    id: int
    label: int | None  # 1 positive, 0 negative, None unlabelled
    text: str          # cleaned


def clean(text: str) -> str:
    """A review as plain text: its ``<br />`` line breaks become newlines."""
    return text.replace("<br />", "\n")


def reviews(split: str) -> list[Review]:
    """The reviews of ``split`` ("train", "unsup" or "test"), cleaned, in file order."""
    if split not in (*TRAINING_SPLITS, "test"):
        raise ScratchMLError(f"unknown IMDb split {split!r}; choose train, unsup or test")
    path = fetch("imdb", f"{split}.jsonl.gz")
    out = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                out.append(Review(split, int(row["id"]), row.get("label"), clean(row["text"])))
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ScratchMLError(f"{path}: not the IMDb JSON-lines file it should be ({e})") from None
    return out


def held_out(review: Review, fraction: float) -> bool:
    """Whether ``review`` belongs to the validation part: the first 8 bytes of sha256("split/id")."""
    digest = hashlib.sha256(f"{review.split}/{review.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2 ** 64


def training_texts(valid_fraction: float, limit: int = 0) -> tuple[list[str], list[str]]:
    """(training texts, validation texts) from train + unsup; ``limit``: only the first N reviews of
    each split (tests, quick runs)."""
    train, valid = [], []
    for split in TRAINING_SPLITS:
        rows = reviews(split)
        for review in rows[:limit] if limit else rows:
            (valid if held_out(review, valid_fraction) else train).append(review.text)
    return train, valid


def scoring_reviews() -> list[Review]:
    """The test reviews whose id is divisible by 10 (2,500): a fixed, held-out set for bits per byte."""
    return [r for r in reviews("test") if r.id % 10 == 0]
