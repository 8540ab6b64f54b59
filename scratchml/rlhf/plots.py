"""The training curves of a PPO run, from its metrics CSV: what the policy gained, what it cost."""

import csv
import math
from pathlib import Path


def plot_ppo(csv_file: Path, png: Path, target_kl: float | None = None) -> None:
    """Reward-model score, KL to π_ref (with its target) and, when logged, the ground-truth positive
    rate of each iteration's rollouts, against the iteration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_file, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))

    def column(name):
        return [float(r[name]) if r.get(name) not in (None, "", "nan") else math.nan for r in rows]

    steps = column("step")
    panels = [("score", "reward-model score (π_ref: 0)"), ("kl", "KL(π ‖ π_ref), nats per continuation")]
    if rows and rows[0].get("positive_rate") not in (None, ""):
        panels.append(("positive_rate", "positive rate (ground truth)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (name, title) in zip(axes, panels):
        ax.plot(steps, column(name), color="C3", lw=1)
        if name == "kl" and target_kl:
            ax.axhline(target_kl, color="k", ls="--", lw=1, label=f"target {target_kl:g}")
            ax.legend()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
