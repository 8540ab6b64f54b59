"""What every training loop of scratchml keeps the same way: the optimizer's state as flat tensors (so
that a checkpoint is safetensors, never a pickle) and the metrics CSV that a resumed run continues."""

import csv
import os
from pathlib import Path

import torch


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str = "") -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as "<prefix><parameter number>.<name>" -> tensor (AdamW:
    step, exp_avg, exp_avg_sq)."""
    return {f"{prefix}{i}.{key}": torch.as_tensor(value).clone()
            for i, state in optimizer.state_dict()["state"].items() for key, value in state.items()}


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Put back the state that ``optimizer_tensors`` flattened (other names in ``tensors`` are ignored)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix):
            i, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(i), {})[key] = value
    optimizer.load_state_dict({**optimizer.state_dict(), "state": state})


def append_metrics(path: Path, row: dict) -> None:
    """One row of the metrics CSV ``path`` (the header first, when the file is new)."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the rows after ``step`` (atomically): a run resumed from an older checkpoint writes them again."""
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if int(row["step"]) <= step]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
