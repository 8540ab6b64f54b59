"""The training loop: shuffled mini-batches, a validation split, early stopping.

Each epoch visits the training set in a fresh random order (so consecutive gradients are
decorrelated) in mini-batches of B examples; each batch does forward → loss → backward →
optimizer step. After each epoch the model is scored on held-out validation data it never trains
on; early stopping keeps the weights of the best validation epoch and stops once ``patience``
epochs in a row have not beaten it (Prechelt 1998).
"""

import time

import numpy as np
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.nn.ema import EMA
from scratchml.nn.loss import SoftmaxCrossEntropy
from scratchml.nn.optimizer import Optimizer
from scratchml.nn.sequential import Sequential


def split_validation(x: np.ndarray, y: np.ndarray, n_val: int, seed: int = 0):
    """A random (x_train, y_train, x_val, y_val) split with ``n_val`` validation examples."""
    if not 0 <= n_val < len(x):
        raise ScratchMLError(f"validation size must be in [0, {len(x)}), got {n_val}")
    order = np.random.default_rng(seed).permutation(len(x))
    train, val = order[n_val:], order[:n_val]
    return x[train], y[train], x[val], y[val]


def evaluate(model: Sequential, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on (x, y), in evaluation mode."""
    scores = model.predict(x)
    loss = SoftmaxCrossEntropy().forward(scores, y)
    return loss, float((scores.argmax(axis=1) == y).mean())


def fit(model: Sequential, loss_fn: SoftmaxCrossEntropy, optimizer: Optimizer,
        x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
        val: tuple[np.ndarray, np.ndarray] | None = None, schedule=None, ema: EMA | None = None,
        patience: int | None = None, seed: int = 0, progress: bool = True) -> list[dict]:
    """Train in place; return one dict of metrics per epoch.

    ``schedule(t)`` sets the learning rate before step t. With ``ema`` the model is evaluated (and
    left) with the averaged weights. With ``val`` and ``patience`` it is left with the best
    validation epoch's weights.
    """
    rng = np.random.default_rng(seed)
    n = len(x)
    x_batch = np.empty((batch_size,) + x.shape[1:], x.dtype)
    history, best, bad_epochs, t = [], None, 0, 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = rng.permutation(n)
        total_loss, correct = 0.0, 0
        bar = tqdm(range(0, n, batch_size), desc=f"epoch {epoch}/{epochs}", unit="batch",
                   disable=not progress, leave=True, dynamic_ncols=True)
        for i in bar:
            idx = order[i:i + batch_size]
            xb = np.take(x, idx, axis=0, out=x_batch) if len(idx) == batch_size else x[idx]
            yb = y[idx]
            if schedule is not None:
                optimizer.lr = schedule(t)
            scores = model.forward(xb)                      # (B, K)
            correct += int((scores.argmax(axis=1) == yb).sum())
            loss = loss_fn.forward(scores, yb)
            total_loss += loss * len(idx)
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.step()
            if ema is not None:
                ema.update()
            t += 1
            if t % 50 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        record = {"epoch": epoch, "lr": optimizer.lr, "train_loss": total_loss / n,
                  "train_accuracy": correct / n}
        if val is not None:
            live = model.flat.data.copy()
            if ema is not None:
                ema.copy_to(model)                          # score the averaged weights
            record["val_loss"], record["val_accuracy"] = evaluate(model, *val)
            if best is None or record["val_accuracy"] > best[0]:
                best, bad_epochs = (record["val_accuracy"], model.flat.data.copy()), 0
            else:
                bad_epochs += 1
            model.flat.data[...] = live                     # training goes on with the live weights
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        if progress:
            bar.write("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in record.items()))
        if patience is not None and val is not None and bad_epochs >= patience:
            break
    if patience is not None and best is not None:
        model.flat.data[...] = best[1]
    elif ema is not None:
        ema.copy_to(model)
    return history
