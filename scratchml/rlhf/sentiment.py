"""A sentiment classifier for movie reviews: naive-Bayes-weighted logistic regression over word
unigrams and bigrams ("NBSVM", Wang & Manning, "Baselines and Bigrams", ACL 2012; its logistic-
regression form as in Mesnil et al., "Ensemble of Generative and Discriminative Techniques for
Sentiment Analysis of Movie Reviews", 2014).

In the RLHF experiments it stands in for the people who judge which continuation is more positive,
so it must be accurate, fast (it reads every sampled continuation) and unrelated to the GPT being
tuned: a judge that shared the policy's representation would share its blind spots.

1. **Terms.** A review is lower-cased and cut into words (letters and digits, with an apostrophe
   suffix as in "don't") and the marks ``!`` and ``?``; its terms are those words and every pair of
   adjacent words ("not good" is a term, which is how bigrams catch negation).
2. **Binary features.** x_j = 1 when term j occurs in the review at all: for sentiment, whether a
   word is there says more than how often (Wang & Manning, section 2.2).
3. **Naive-Bayes weighting.** With p = α + Σ of x over positive training reviews and q the same
   over negative ones, the log-count ratio r = log(p / ‖p‖₁) − log(q / ‖q‖₁) says how much more
   typical of positive reviews each term is (α = 1, add-one smoothing). Naive Bayes alone would
   classify by Σ_j r_j x_j.
4. **Logistic regression** on the scaled features r ⊙ x: P(positive) = σ(b + Σ_j w_j r_j x_j), w
   fit by minimizing the mean log-loss + λ/2 ‖w‖². The naive-Bayes scaling lets the regression start
   from features that already point the right way, which is what makes NBSVM beat both of its parts.

A trained classifier keeps only v = w ⊙ r and b: the logit of a text is b plus the sum of v over the
terms it contains.
"""

import json
import math
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from scratchml.errors import ScratchMLError
from scratchml.files import resolve, swap_in

FORMAT = "scratchml-sentiment"
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")


def terms(text: str) -> set[str]:
    """The unigrams and bigrams of ``text``, as a set (presence is all that counts)."""
    words = WORD.findall(text.lower())
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


@dataclass
class Bag:
    """Binary bag-of-terms rows in coordinate form: row ``rows[k]`` has term ``cols[k]``."""
    rows: np.ndarray  # (nnz,) int64
    cols: np.ndarray  # (nnz,) int64
    n_rows: int

    @classmethod
    def of(cls, texts: list[str], vocabulary: dict[str, int]) -> "Bag":
        rows, cols = [], []
        for i, text in enumerate(texts):
            ids = [vocabulary[t] for t in terms(text) if t in vocabulary]
            rows += [i] * len(ids)
            cols += ids
        return cls(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), len(texts))

    def dot(self, v: np.ndarray) -> np.ndarray:
        """X v, shape (n_rows,)."""
        return np.bincount(self.rows, weights=v[self.cols], minlength=self.n_rows)

    def dot_t(self, g: np.ndarray, n_cols: int) -> np.ndarray:
        """Xᵀ g, shape (n_cols,)."""
        return np.bincount(self.cols, weights=g[self.rows], minlength=n_cols)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # never overflows


class SentimentClassifier:
    """P(positive) of a text. Build one with ``SentimentClassifier.fit``, or ``load`` a saved one.

    >>> clf = SentimentClassifier.fit(["great fun", "a great film", "dull and bad", "bad acting"],
    ...                               [1, 1, 0, 0], min_df=1, l2=1e-3)
    >>> [round(float(p)) for p in clf.probability(["great", "bad"])]
    [1, 0]
    """

    def __init__(self, vocabulary: list[str], weights: np.ndarray, bias: float, meta: dict | None = None):
        if len(vocabulary) != len(weights):
            raise ScratchMLError(f"{len(vocabulary)} terms but {len(weights)} weights")
        self.vocabulary = {t: i for i, t in enumerate(vocabulary)}
        self.weights = np.asarray(weights, dtype=np.float64)  # (F,) v = w ⊙ r
        self.bias = float(bias)
        self.meta = meta or {}

    def logits(self, texts: list[str]) -> np.ndarray:
        """log P(positive) / P(negative) of each text, shape (N,)."""
        return self.bias + Bag.of(list(texts), self.vocabulary).dot(self.weights)

    def probability(self, texts: list[str]) -> np.ndarray:
        return _sigmoid(self.logits(texts))

    @classmethod
    def fit(cls, texts: list[str], labels, min_df: int = 2, l2: float = 1e-4, alpha: float = 1.0,
            steps: int = 300, lr: float = 0.05) -> "SentimentClassifier":
        """Train on ``texts`` with ``labels`` (1 positive, 0 negative); terms in fewer than ``min_df``
        texts are dropped. Full-batch Adam on the convex loss (every step sees all the data), its rate
        decaying to 0 along a cosine so that it settles at the minimum."""
        y = np.asarray(labels, dtype=np.float64)
        if len(texts) != len(y) or not len(y) or set(np.unique(y)) - {0.0, 1.0} or len(np.unique(y)) < 2:
            raise ScratchMLError("fitting needs texts with labels 1 and 0, both present, one label per text")
        df = Counter(t for text in texts for t in terms(text))
        vocabulary = sorted(t for t, n in df.items() if n >= min_df)
        index = {t: i for i, t in enumerate(vocabulary)}
        X = Bag.of(texts, index)
        F = len(vocabulary)
        p = alpha + X.dot_t(y, F)                                  # (F,) smoothed counts in positive texts
        q = alpha + X.dot_t(1.0 - y, F)                            # (F,) ... in negative texts
        r = np.log(p / p.sum()) - np.log(q / q.sum())              # (F,) log-count ratio
        w, b = np.zeros(F), 0.0
        m, s, mb, sb = np.zeros(F), np.zeros(F), 0.0, 0.0          # Adam moments (Kingma & Ba 2015)
        b1, b2 = 0.9, 0.999
        for t in range(1, steps + 1):
            step = lr * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))  # cosine decay: settles at the minimum
            err = _sigmoid(X.dot(w * r) + b) - y                   # (N,) d loss / d logit
            gw = X.dot_t(err, F) * r / len(y) + l2 * w
            gb = err.mean()
            m, s = b1 * m + (1 - b1) * gw, b2 * s + (1 - b2) * gw * gw
            mb, sb = b1 * mb + (1 - b1) * gb, b2 * sb + (1 - b2) * gb * gb
            w -= step * (m / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + 1e-8)
            b -= step * (mb / (1 - b1 ** t)) / (np.sqrt(sb / (1 - b2 ** t)) + 1e-8)
        return cls(vocabulary, w * r, b, {"min_df": min_df, "l2": l2, "alpha": alpha, "steps": steps})

    def save(self, path) -> None:
        """A folder with ``weights.safetensors``, ``terms.txt`` (one term a line) and ``config.json``."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        order = sorted(self.vocabulary, key=self.vocabulary.get)
        save_file({"weights": self.weights.astype(np.float32), "bias": np.array([self.bias], dtype=np.float32)},
                  str(tmp / "weights.safetensors"))
        (tmp / "terms.txt").write_text("\n".join(order) + "\n", encoding="utf-8")
        (tmp / "config.json").write_text(json.dumps({"format": FORMAT, **self.meta}, indent=1))
        swap_in(tmp, path)

    @classmethod
    def load(cls, path) -> "SentimentClassifier":
        path = resolve(Path(path))
        try:
            meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
            vocabulary = (path / "terms.txt").read_text(encoding="utf-8").split("\n")[:-1]
            tensors = load_file(str(path / "weights.safetensors"))
        except FileNotFoundError as e:
            raise ScratchMLError(f"{path} is not a sentiment classifier folder (no {Path(e.filename).name})") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, SafetensorError) as e:
            raise ScratchMLError(f"{path}: cannot read the sentiment classifier ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or set(tensors) != {"weights", "bias"}:
            raise ScratchMLError(f"{path} is not a sentiment classifier folder (format {FORMAT!r} expected)")
        meta.pop("format")
        return cls(vocabulary, tensors["weights"], float(tensors["bias"][0]), meta)
