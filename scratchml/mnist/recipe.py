"""The default MNIST recipe: a 784 → 1024 → 1024 → 10 ReLU network and how it is trained.

Every choice below was made on a 5,000-image validation split carved out of the training set;
the test set is only ever used to report the final number (docs/mnist.md has the experiments).
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from scratchml import nn
from scratchml.errors import ScratchMLError


@dataclass
class Recipe:
    hidden: list[int] = field(default_factory=lambda: [1024, 1024])
    epochs: int = 10
    batch_size: int = 512
    optimizer: str = "adamw"        # adamw | adam | sgd (Nesterov momentum 0.9)
    lr: float = 3e-3                # peak learning rate, reached after warm-up
    weight_decay: float = 0.05
    warmup: float = 0.03            # fraction of all steps spent warming up, then cosine decay
    label_smoothing: float = 0.1
    dropout: float = 0.0            # after each hidden ReLU
    ema: float = 0.0                # decay of the weight average, e.g. 0.998 (0: off)
    val_size: int = 5000            # held out of the 60,000 training images
    patience: int | None = None     # early stopping (epochs without validation gain)
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def build_model(hidden: list[int], dropout: float = 0.0, seed: int = 0,
                n_in: int = 784, n_out: int = 10) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    layers, width = [], n_in
    for i, h in enumerate(hidden):
        layers += [nn.Linear(width, h, init="he", rng=rng), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout, seed=seed + 1 + i))
        width = h
    layers.append(nn.Linear(width, n_out, init="he", rng=rng))
    return nn.Sequential(*layers)


def make_optimizer(r: Recipe, model: nn.Sequential):
    if r.optimizer == "adamw":
        return nn.AdamW(model.parameters(), r.lr, weight_decay=r.weight_decay)
    if r.optimizer == "adam":
        return nn.Adam(model.parameters(), r.lr, weight_decay=r.weight_decay)
    if r.optimizer == "sgd":
        return nn.SGD(model.parameters(), r.lr, momentum=0.9, nesterov=True, weight_decay=r.weight_decay)
    raise ScratchMLError(f"unknown optimizer {r.optimizer!r}; use adamw, adam or sgd")


def make_schedule(r: Recipe, steps_per_epoch: int):
    total = r.epochs * steps_per_epoch
    warm = int(r.warmup * total)
    return nn.Warmup(nn.CosineLR(r.lr, total - warm), warm)


def validate(r: Recipe) -> None:
    if not r.hidden or min(r.hidden) < 1:
        raise ScratchMLError(f"hidden sizes must be positive, got {r.hidden}")
    if r.epochs < 1 or r.batch_size < 1:
        raise ScratchMLError("epochs and batch size must be at least 1")
    if r.lr <= 0:
        raise ScratchMLError(f"learning rate must be positive, got {r.lr}")
    if not 0 <= r.ema < 1:
        raise ScratchMLError(f"EMA decay must be in [0, 1), got {r.ema}")


def train(r: Recipe, x: np.ndarray, y: np.ndarray, progress: bool = True):
    """Train on (x, y) following ``r``; returns (model, per-epoch history, seconds)."""
    validate(r)
    start = time.perf_counter()
    x_train, y_train, x_val, y_val = nn.split_validation(x, y, r.val_size, seed=r.seed)
    model = build_model(r.hidden, r.dropout, r.seed)
    optimizer = make_optimizer(r, model)
    steps_per_epoch = -(-len(x_train) // r.batch_size)
    history = nn.fit(model, nn.SoftmaxCrossEntropy(r.label_smoothing), optimizer, x_train, y_train,
                     epochs=r.epochs, batch_size=r.batch_size,
                     val=(x_val, y_val) if r.val_size else None,
                     schedule=make_schedule(r, steps_per_epoch),
                     ema=nn.EMA(model, r.ema) if r.ema else None,
                     patience=r.patience, seed=r.seed, progress=progress)
    return model, history, time.perf_counter() - start
