"""Our PCA against scikit-learn's: the same directions (up to sign), variance kept and projections."""

import numpy as np
import pytest

from scratchml.retrieve.pca import PCA

decomposition = pytest.importorskip("sklearn.decomposition")


def correlated(n=500, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d) * 5).astype(np.float32)


@pytest.mark.parametrize("r", [1, 4, 12])
def test_matches_scikit_learn(r):
    x = correlated()
    ours, ref = PCA.fit(x, r), decomposition.PCA(r, svd_solver="full").fit(x)
    signs = np.sign((ours.components * ref.components_.T).sum(0))  # an eigenvector's sign is arbitrary
    np.testing.assert_allclose(ours.components * signs, ref.components_.T, atol=1e-4)
    np.testing.assert_allclose(ours(x) * signs, ref.transform(x), rtol=1e-3, atol=1e-3)
    assert ours.explained == pytest.approx(ref.explained_variance_ratio_.sum(), rel=1e-5)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="PCA needs"):
        PCA.fit(correlated(10, 3), 4)
    with pytest.raises(ValueError, match="PCA needs"):
        PCA.fit(correlated(1, 3), 2)
