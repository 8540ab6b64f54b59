"""Every layer's and the loss's analytic gradient against central finite differences, in float64."""

import numpy as np
import pytest

from scratchml import nn

RNG = np.random.default_rng(0)


def numerical_grad(f, x, eps=1e-6):
    """∂f/∂x by central differences, one coordinate at a time: (f(x + ε) − f(x − ε)) / 2ε."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f()
        x[i] = old - eps
        lo = f()
        x[i] = old
        grad[i] = (hi - lo) / (2 * eps)
    return grad


def check_layer(layer, x, reseed=None):
    """L = Σ y ⊙ R for a fixed random R, so dL/dy = R; compare dL/dx and every dL/dθ."""
    def forward():
        if reseed:
            reseed()
        return layer.forward(x).copy()

    r = RNG.standard_normal(forward().shape)

    def loss():
        return float((forward() * r).sum())

    forward()
    dx = layer.backward(r.copy()).copy()
    grads = [p.grad.copy() for p in layer.parameters()]
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    for p, g in zip(layer.parameters(), grads):
        np.testing.assert_allclose(g, numerical_grad(loss, p.data), rtol=1e-6, atol=1e-8)


def away_from_zero(shape):
    """Inputs with |x| ≥ 0.05: ReLU-like kinks at 0 are not differentiable."""
    x = RNG.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)


@pytest.mark.parametrize("init", ["he", "xavier"])
def test_linear(init):
    layer = nn.Linear(5, 4, init=init, rng=np.random.default_rng(1), dtype=np.float64)
    layer.bias.data[:] = RNG.standard_normal(4)
    check_layer(layer, RNG.standard_normal((3, 5)))


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.LeakyReLU(0.1), nn.Tanh(), nn.Sigmoid()],
                         ids=lambda m: type(m).__name__)
def test_activations(layer):
    check_layer(layer, away_from_zero((4, 6)) * 3)


def test_dropout_with_its_mask_held_fixed():
    layer = nn.Dropout(0.3, seed=5)

    def reseed():
        layer.rng = np.random.default_rng(5)
    check_layer(layer, RNG.standard_normal((6, 7)), reseed=reseed)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy(smoothing):
    loss = nn.SoftmaxCrossEntropy(label_smoothing=smoothing)
    logits, targets = RNG.standard_normal((5, 7)) * 3, RNG.integers(0, 7, 5)
    loss.forward(logits, targets)
    analytic = loss.backward().copy()
    numeric = numerical_grad(lambda: loss.forward(logits, targets), logits)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_whole_sequential_network():
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Linear(6, 5, rng=rng, dtype=np.float64), nn.Tanh(),
                          nn.Linear(5, 5, rng=rng, dtype=np.float64), nn.ReLU(),
                          nn.Linear(5, 3, init="xavier", rng=rng, dtype=np.float64))
    model.flat.data[:] += RNG.standard_normal(model.flat.size) * 0.1   # non-zero biases too
    loss = nn.SoftmaxCrossEntropy()
    x, y = RNG.standard_normal((4, 6)), RNG.integers(0, 3, 4)

    def f():
        return loss.forward(model.forward(x), y)

    f()
    dx = model.backward(loss.backward()).copy()
    np.testing.assert_allclose(dx, numerical_grad(f, x), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(model.flat.grad, numerical_grad(f, model.flat.data), rtol=1e-5, atol=1e-9)


def test_loss_is_stable_for_huge_logits():
    loss = nn.SoftmaxCrossEntropy()
    value = loss.forward(np.array([[1000.0, -1000.0, 0.0]]), np.array([1]))
    assert value == pytest.approx(2000.0) and np.isfinite(loss.backward()).all()
