"""Our sentiment classifier (the RLHF annotator) against scikit-learn's TF-IDF logistic regression, in one run.

Both train on the 25,000 IMDb ``train`` reviews and are measured on the 25,000 ``test`` reviews
(``<br />`` replaced by newlines for both). Ours: naive-Bayes-weighted logistic regression on binary
word unigrams and bigrams (``scratchml rlhf annotator``'s defaults). The reference: scikit-learn's
``TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)`` and ``LogisticRegression(C=10)``,
the usual strong linear baseline of the IMDb literature (Maas et al. 2011 report 88-89 % for
bag-of-words models; Wang & Manning 2012 91.2 % for NBSVM with bigrams).

Prints each side's test accuracy and fitting time; the last stdout line is one JSON object.
Usage: ``python benchmarks/sentiment_vs_sklearn.py [--limit N]`` (N random reviews of each split)
"""

import argparse
import json
import time

import numpy as np

from scratchml.llm.imdb import reviews
from scratchml.rlhf.sentiment import SentimentClassifier


def split(name: str, limit: int) -> tuple[list[str], np.ndarray]:
    rows = reviews(name)
    if limit:
        rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[:limit]]
    return [r.text for r in rows], np.array([r.label for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train_x, train_y = split("train", args.limit)
    test_x, test_y = split("test", args.limit)

    start = time.perf_counter()
    ours = SentimentClassifier.fit(train_x, train_y)
    ours_fit = time.perf_counter() - start
    ours_acc = float(np.mean((ours.probability(test_x) > 0.5) == test_y))

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    reference = LogisticRegression(C=10, max_iter=1000).fit(vectorizer.fit_transform(train_x), train_y)
    ref_fit = time.perf_counter() - start
    ref_acc = float(np.mean(reference.predict(vectorizer.transform(test_x)) == test_y))

    print(json.dumps({"train_reviews": len(train_x), "test_reviews": len(test_x),
                      "ours_accuracy": round(ours_acc, 4), "sklearn_tfidf_lr_accuracy": round(ref_acc, 4),
                      "accuracy_difference": round(ours_acc - ref_acc, 4),
                      "ours_fit_seconds": round(ours_fit, 1), "sklearn_fit_seconds": round(ref_fit, 1),
                      "fit_time_ratio": round(ours_fit / ref_fit, 2)}))


if __name__ == "__main__":
    main()
