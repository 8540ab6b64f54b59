"""The training curves of a GPT run, from its metrics CSV."""

import csv
import math
from pathlib import Path


def plot_metrics(csv_file: Path, png: Path) -> None:
    """Training and validation loss (nats per token) and validation bits per byte against the step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_file, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))

    def column(name):
        return [float(r[name]) if r[name] not in ("", "nan") else math.nan for r in rows]

    steps = column("step")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(steps, column("train_loss"), "o-", label="training (mean since the last point)")
    a.plot(steps, column("valid_loss"), "o-", label="validation (held-out reviews)")
    a.set_ylabel("cross-entropy, nats per token")
    a.legend()
    b.plot(steps, column("valid_bits_per_byte"), "o-", color="C2")
    b.set_ylabel("validation bits per byte")
    for ax in (a, b):
        ax.set_xlabel("step")
        ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
