"""The training loop: a tiny batch is memorised, the validation split, early stopping, EMA."""

import numpy as np
import pytest

from scratchml import nn
from scratchml.errors import ScratchMLError
from scratchml.nn import chunks


def mlp(seed=0, sizes=(20, 64, 64, 4)):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(sizes[0], sizes[1], rng=rng), nn.ReLU(),
                         nn.Linear(sizes[1], sizes[2], rng=rng), nn.ReLU(),
                         nn.Linear(sizes[2], sizes[3], rng=rng))


@pytest.mark.parametrize("make_opt", [
    lambda p: nn.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: nn.Adam(p, lr=1e-2),
    lambda p: nn.AdamW(p, lr=1e-2, weight_decay=1e-4)], ids=["sgd-nesterov", "adam", "adamw"])
def test_overfits_a_tiny_batch_of_random_labels(make_opt):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 4, 32)
    model = mlp()
    nn.fit(model, nn.SoftmaxCrossEntropy(), make_opt(model.parameters()), x, y,
           epochs=150, batch_size=32, progress=False)
    assert nn.evaluate(model, x, y)[1] == 1.0


def test_validation_split_is_a_disjoint_partition():
    x, y = np.arange(100).reshape(50, 2), np.arange(50)
    xt, yt, xv, yv = nn.split_validation(x, y, 10, seed=1)
    assert len(xv) == 10 and len(xt) == 40
    assert sorted(np.concatenate([yt, yv]).tolist()) == list(range(50))
    np.testing.assert_array_equal(xt[:, 0], 2 * yt)        # rows stay paired with their labels
    with pytest.raises(ScratchMLError):
        nn.split_validation(x, y, 50)


def test_early_stopping_restores_the_best_epoch():
    """Labels unrelated to the inputs: validation accuracy cannot keep improving."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 20)).astype(np.float32), rng.integers(0, 4, 200)
    xv, yv = rng.standard_normal((100, 20)).astype(np.float32), rng.integers(0, 4, 100)
    model = mlp()
    history = nn.fit(model, nn.SoftmaxCrossEntropy(), nn.Adam(model.parameters(), 1e-2), x, y,
                     epochs=100, batch_size=50, val=(xv, yv), patience=3, progress=False)
    accs = [h["val_accuracy"] for h in history]
    assert len(history) < 100                               # stopped early
    best = int(np.argmax(accs))                             # first epoch with the best accuracy
    assert len(history) == best + 1 + 3                     # … plus `patience` epochs without gain
    assert nn.evaluate(model, xv, yv)[1] == pytest.approx(accs[best])


def test_same_seed_same_result():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 20)).astype(np.float32), rng.integers(0, 4, 64)
    runs = []
    for _ in range(2):
        model = nn.Sequential(*mlp().layers[:2], nn.Dropout(0.3, seed=1), *mlp().layers[2:])
        nn.fit(model, nn.SoftmaxCrossEntropy(), nn.Adam(model.parameters()), x, y,
               epochs=2, batch_size=16, seed=3, progress=False)
        runs.append(model.flat.data.copy())
    np.testing.assert_array_equal(*runs)


def test_ema_follows_its_recurrence(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK", 5)                # many chunks
    model = mlp(sizes=(2, 3, 3, 2))
    ema = nn.EMA(model, decay=0.9)
    expected = model.flat.data.astype(np.float64)
    for t in range(20):
        model.flat.data[:] = t                               # pretend the optimizer moved θ to t
        ema.update()
        d = min(0.9, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * t
    np.testing.assert_allclose(ema.average, expected, rtol=1e-5)


def test_dropout_keeps_the_expectation_and_is_identity_in_eval():
    layer = nn.Dropout(0.25, seed=0)
    x = np.ones((1000, 100), np.float32)
    y = layer.forward(x)
    assert (y == 0).mean() == pytest.approx(0.25, abs=0.01) and y.mean() == pytest.approx(1.0, abs=0.02)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert layer.eval().forward(x) is x


def test_parallel_waits_for_every_thread_and_reraises_their_errors():
    from scratchml.nn.chunks import parallel
    seen = []
    parallel(seen.extend, 10, threads=3)
    assert sorted(seen) == list(range(10))

    def fail_on_one(indices):
        if 1 in indices:
            raise ValueError("chunk 1")
    with pytest.raises(ValueError, match="chunk 1"):
        parallel(fail_on_one, 4, threads=2)
