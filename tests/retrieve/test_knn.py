"""The kNN mixture's pieces computed by hand: the distance softmax per token and the adaptive λ."""

import numpy as np
import pytest
import torch

from scratchml.retrieve.datastore import Neighbours
from scratchml.retrieve.knn import KNNSettings, adaptive_lambda, mix

ONLY_KNN = KNNSettings(lambda_max=1.0, sigma=1e9, temperature=10.0)  # λ = 1 at any distance: p = p_kNN


def test_knn_distribution_by_hand():
    uniform = torch.zeros(1, 5)
    found = Neighbours(np.array([[0.0, 10.0, np.inf]], np.float32), np.array([[3, 3, -1]]), np.array([[0, 0, -1]]))
    p = mix(uniform, found, ONLY_KNN)[0].exp()
    assert p[0, 3].item() == pytest.approx(1.0) and p.sum().item() == pytest.approx(1.0)
    found = Neighbours(np.array([[0.0, 10.0]], np.float32), np.array([[1, 2]]), np.array([[0, 0]]))
    w = np.exp([0.0, -1.0]) / np.exp([0.0, -1.0]).sum()
    np.testing.assert_allclose(mix(uniform, found, ONLY_KNN)[0].exp()[0, 1:3].numpy(), w, rtol=1e-6)
    lam = adaptive_lambda(torch.tensor([0.0, 20.0, float("inf")]), KNNSettings(lambda_max=0.8, sigma=20.0))
    np.testing.assert_allclose(lam.numpy(), [0.8, 0.8 * np.exp(-1), 0.0], rtol=1e-6)


def test_mix_is_the_convex_combination():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    found = Neighbours(np.array([[0.0]], np.float32), np.array([[2]]), np.array([[0]]))
    logp, lam = mix(logits, found, KNNSettings(lambda_max=0.6))
    np.testing.assert_allclose(logp.exp().numpy(), [[0.4 * 0.5, 0.4 * 0.25, 0.6 + 0.4 * 0.25]], rtol=1e-5)
    assert lam.item() == pytest.approx(0.6)
