"""Figures of a training run: learning curves and a gallery of the test digits it gets wrong."""

import os
from pathlib import Path

import numpy as np


def _savefig(fig, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)                                   # atomic: never a half-written figure


def curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, training (running, on the fly) and validation."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-",
                label="train (running mean over the epoch)")
        if "val_" + key in history[0]:
            ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)


def mistakes(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: Path,
             max_shown: int = 48) -> None:
    """A grid of misclassified digits, each titled with its true and predicted label."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = np.flatnonzero(predicted != labels)[:max_shown]
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(images[i], cmap="gray")
        ax.set_title(f"true {labels[i]} / pred {predicted[i]}", fontsize=7)
    n_wrong = int((predicted != labels).sum())
    fig.suptitle(f"{n_wrong} of {len(labels)} test digits misclassified (first {len(wrong)} shown)",
                 fontsize=9)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)
