"""Plots of the translator: the training curves, and cross-attention heatmaps (which source tokens
each output token looked at, per layer and head)."""

import csv
import math
from pathlib import Path

import torch


def plot_attention(src_tokens: list[str], tgt_tokens: list[str], weights: torch.Tensor, png: Path) -> None:
    """``weights`` (layers, heads, T, S) -> a grid of heatmaps, one row per layer, one column per head."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layers, n_heads, T, S = weights.shape
    fig, axes = plt.subplots(n_layers, n_heads, squeeze=False,
                             figsize=(2.2 + 0.32 * S * n_heads, 1.2 + 0.3 * T * n_layers))
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer][head]
            ax.imshow(weights[layer, head].numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(range(S), [repr(t)[1:-1] for t in src_tokens], rotation=90, fontsize=7)
            ax.set_yticks(range(T), [repr(t)[1:-1] for t in tgt_tokens], fontsize=7)
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def plot_metrics(csv_file: Path, png: Path) -> None:
    """Loss and validation BLEU against training time, from the metrics CSV the training writes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_file, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return

    def column(name):
        return [float(r[name]) if r[name] else math.nan for r in rows]

    minutes = column("minutes")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(minutes, column("train_loss"), "o-", label="train (label-smoothed CE)")
    a.plot(minutes, column("valid_nll"), "o-", label="validation NLL")
    a.set_xlabel("training minutes")
    a.set_ylabel("loss per token")
    a.legend()
    a.grid(alpha=.3)
    b.plot(minutes, column("valid_bleu"), "o-", color="C2")
    b.set_xlabel("training minutes")
    b.set_ylabel("validation BLEU (greedy)")
    b.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
