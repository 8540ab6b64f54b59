"""Forward, backward and optimizer steps against PyTorch, starting from the same float32 weights."""

import numpy as np
import pytest

from scratchml import nn
from scratchml.nn import chunks

torch = pytest.importorskip("torch")


def twin_networks(seed=0, sizes=(12, 16, 16, 5)):
    """Our 3-layer ReLU MLP and an identical torch one (torch stores W as (out, in))."""
    rng = np.random.default_rng(seed)
    ours = nn.Sequential(nn.Linear(sizes[0], sizes[1], rng=rng), nn.ReLU(),
                         nn.Linear(sizes[1], sizes[2], rng=rng), nn.ReLU(),
                         nn.Linear(sizes[2], sizes[3], rng=rng))
    linears = [m for m in ours.layers if isinstance(m, nn.Linear)]
    for m in linears:
        m.bias.data[:] = rng.normal(0, 0.1, m.bias.shape)
    theirs = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                 torch.nn.Linear(sizes[1], sizes[2]), torch.nn.ReLU(),
                                 torch.nn.Linear(sizes[2], sizes[3]))
    with torch.no_grad():
        for m, t in zip(linears, [theirs[0], theirs[2], theirs[4]]):
            t.weight.copy_(torch.from_numpy(m.weight.data.T.copy()))
            t.bias.copy_(torch.from_numpy(m.bias.data.copy()))
    return ours, linears, theirs, [theirs[0], theirs[2], theirs[4]]


def assert_same_weights(linears, torch_linears, atol=1e-5):
    for m, t in zip(linears, torch_linears):
        np.testing.assert_allclose(m.weight.data, t.weight.detach().numpy().T, rtol=0, atol=atol)
        np.testing.assert_allclose(m.bias.data, t.bias.detach().numpy(), rtol=0, atol=atol)


OPTIMIZERS = {
    "sgd": (lambda p: nn.SGD(p, lr=0.1), lambda g: torch.optim.SGD(g, lr=0.1)),
    "sgd-momentum-wd": (lambda p: nn.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
                        lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, weight_decay=0.01)),
    "sgd-nesterov-wd": (
        lambda p: nn.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": (lambda p: nn.Adam(p, lr=1e-2), lambda g: torch.optim.Adam(g, lr=1e-2)),
    "adam-wd": (lambda p: nn.Adam(p, lr=1e-2, weight_decay=0.1),
                lambda g: torch.optim.Adam(g, lr=1e-2, weight_decay=0.1)),
    "adamw": (lambda p: nn.AdamW(p, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1),
              lambda g: torch.optim.AdamW(g, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)),
}


@pytest.mark.parametrize("chunk", [1 << 16, 37], ids=["one-chunk", "many-chunks"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_training_steps_match_torch(name, chunk, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK", chunk)
    ours, linears, theirs, torch_linears = twin_networks()
    make_ours, make_theirs = OPTIMIZERS[name]
    opt = make_ours(ours.parameters())
    # Weight decay on weights only, as our Sequential groups them.
    opt_t = make_theirs([{"params": [t.weight for t in torch_linears]},
                         {"params": [t.bias for t in torch_linears], "weight_decay": 0.0}])
    rng = np.random.default_rng(1)
    loss_fn = nn.SoftmaxCrossEntropy()
    for _ in range(3):                                      # 3 steps: momentum and bias correction
        x = rng.standard_normal((8, 12)).astype(np.float32)
        y = rng.integers(0, 5, 8)
        loss = loss_fn.forward(ours.forward(x), y)
        ours.backward(loss_fn.backward(), input_grad=False)
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        opt_t.zero_grad()
        loss_t.backward()
        assert loss == pytest.approx(loss_t.item(), abs=1e-5)
        for m, t in zip(linears, torch_linears):
            np.testing.assert_allclose(m.weight.grad, t.weight.grad.numpy().T, rtol=0, atol=1e-5)
            np.testing.assert_allclose(m.bias.grad, t.bias.grad.numpy(), rtol=0, atol=1e-5)
        opt.step()
        opt_t.step()
        assert_same_weights(linears, torch_linears)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_loss_and_its_gradient_match_torch(smoothing):
    rng = np.random.default_rng(3)
    logits, y = (rng.standard_normal((6, 10)) * 4).astype(np.float32), rng.integers(0, 10, 6)
    loss_fn = nn.SoftmaxCrossEntropy(label_smoothing=smoothing)
    loss = loss_fn.forward(logits, y)
    grad = loss_fn.backward()
    z = torch.from_numpy(logits).requires_grad_()
    loss_t = torch.nn.functional.cross_entropy(z, torch.from_numpy(y), label_smoothing=smoothing)
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=1e-5)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("ours, theirs", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid())], ids=lambda m: type(m).__name__)
def test_activations_match_torch(ours, theirs):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((5, 9)) * 4).astype(np.float32)
    g = rng.standard_normal((5, 9)).astype(np.float32)
    y = ours.forward(x).copy()
    dx = ours.backward(g.copy())
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-6)
