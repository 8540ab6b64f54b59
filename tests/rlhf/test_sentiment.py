import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from scratchml.errors import ScratchMLError
from scratchml.rlhf.annotator import SimulatedAnnotator
from scratchml.rlhf.sentiment import SentimentClassifier, terms

GOOD = ["great", "wonderful", "loved", "fun", "superb"]
BAD = ["awful", "boring", "hated", "dull", "worst"]
FILLER = ["the", "film", "plot", "actor", "was", "a", "movie", "and", "not", "it"]


def corpus(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    texts = []
    for y in labels:
        mood = GOOD if y else BAD
        # a little of the other mood too, so that the classes overlap and the optimum is finite
        words = list(rng.choice(FILLER, 6)) + list(rng.choice(mood, 2)) + list(rng.choice(GOOD + BAD, 1))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, labels


def test_terms_are_lowercased_words_marks_and_adjacent_pairs():
    assert terms("Don't LIKE it!") == {"don't", "like", "it", "!", "don't like", "like it", "it !"}
    assert terms("") == set()


def test_fit_matches_scikit_learn_logistic_regression_on_the_naive_bayes_features():
    texts, y = corpus(120, seed=0)
    l2 = 0.05
    ours = SentimentClassifier.fit(texts, y, min_df=1, l2=l2, steps=4000, lr=0.1)
    # the reference: scikit-learn's binary counts and its L-BFGS logistic regression, with the
    # log-count ratio of Wang & Manning computed here from its matrix
    vec = CountVectorizer(analyzer=lambda t: sorted(terms(t)), binary=True)
    X = vec.fit_transform(texts).toarray().astype(float)
    p, q = 1 + X[y == 1].sum(0), 1 + X[y == 0].sum(0)
    r = np.log(p / p.sum()) - np.log(q / q.sum())
    # sklearn minimizes C * sum(log-loss) + ||w||^2 / 2; ours mean(log-loss) + l2 * ||w||^2 / 2
    ref = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=10_000).fit(X * r, y)
    order = [ours.vocabulary[t] for t in vec.get_feature_names_out()]
    np.testing.assert_allclose(ours.weights[order], ref.coef_[0] * r, atol=2e-3)
    assert ours.bias == pytest.approx(ref.intercept_[0], abs=2e-3)
    new, _ = corpus(30, seed=1)
    np.testing.assert_allclose(ours.probability(new), ref.predict_proba(vec.transform(new).toarray() * r)[:, 1],
                               atol=1e-3)


def test_min_df_drops_rare_terms_and_unknown_terms_are_ignored():
    texts, y = corpus(60, seed=2)
    clf = SentimentClassifier.fit(texts + ["zebra"], list(y) + [1], min_df=2)
    assert "zebra" not in clf.vocabulary and "great" in clf.vocabulary
    assert clf.logits(["zebra zebra"])[0] == pytest.approx(clf.bias)


def test_save_and_load_keep_the_classifier(tmp_path):
    texts, y = corpus(60, seed=3)
    clf = SentimentClassifier.fit(texts, y, min_df=1)
    clf.save(tmp_path / "clf")
    back = SentimentClassifier.load(tmp_path / "clf")
    np.testing.assert_allclose(back.logits(texts), clf.logits(texts), rtol=1e-5, atol=1e-5)
    assert back.meta["min_df"] == 1


def test_bad_folders_and_labels_are_clear_errors(tmp_path):
    with pytest.raises(ScratchMLError, match="not a sentiment classifier folder"):
        SentimentClassifier.load(tmp_path)
    texts, y = corpus(20, seed=4)
    SentimentClassifier.fit(texts, y, min_df=1).save(tmp_path / "c")
    (tmp_path / "c" / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(ScratchMLError, match="cannot read"):
        SentimentClassifier.load(tmp_path / "c")
    with pytest.raises(ScratchMLError, match="labels 1 and 0"):
        SentimentClassifier.fit(["a", "b"], [1, 1])


def test_the_annotator_samples_bradley_terry_preferences():
    texts, y = corpus(60, seed=5)
    clf = SentimentClassifier.fit(texts, y, min_df=1)
    a, b = ["great fun"] * 4000, ["the film was dull"] * 4000
    diff = clf.logits(a[:1])[0] - clf.logits(b[:1])[0]
    assert diff > 0
    assert SimulatedAnnotator(clf, noise=0).prefers_a(a[:5], b[:5]).all()
    for noise in (1.0, 3.0):
        wins = SimulatedAnnotator(clf, noise=noise, seed=0).prefers_a(a, b).mean()
        expected = 1 / (1 + np.exp(-diff / noise))
        assert abs(wins - expected) < 4 * np.sqrt(expected * (1 - expected) / len(a))  # within 4 standard errors
    with pytest.raises(ScratchMLError, match="noise"):
        SimulatedAnnotator(clf, noise=-1)
