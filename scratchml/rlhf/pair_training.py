"""The training loop shared by the reward model and DPO: epochs over preference pairs, AdamW, a
linear warm-up then a linear decay to 0, gradient clipping, a checkpoint every few minutes and at
every epoch's end, and an exact resume (the order of the pairs depends only on the seed and the
epoch, so a resumed run sees the same batches).

The caller gives the loss of a batch of pairs and a way to save the model; this file owns the order,
the schedule, the optimizer state and the metrics CSV.
"""

import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.llm import GPT
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.preferences import Pair
from scratchml.training import append_metrics, load_optimizer, optimizer_tensors, truncate_metrics

log = logging.getLogger("scratchml.rlhf")


def learning_rate(step: int, total: int, cfg: PairTraining) -> float:
    if step <= cfg.warmup_steps:
        return cfg.lr * step / max(1, cfg.warmup_steps)
    return cfg.lr * max(0.0, (total - step) / max(1, total - cfg.warmup_steps))


def with_dropout(gpt: GPT, p: float) -> GPT:
    """The same GPT, its dropout set to ``p`` (the probability lives in its config, so build it anew)."""
    if p == gpt.cfg.dropout:
        return gpt
    out = GPT(replace(gpt.cfg, dropout=p))
    out.load_state_dict(gpt.state_dict())
    return out


LossFn = Callable[[list[Pair]], tuple[torch.Tensor, dict[str, float]]]
SaveFn = Callable[[Path, dict[str, torch.Tensor], dict], None]  # (folder, optimizer state, progress)


def train_on_pairs(model: torch.nn.Module, pairs: list[Pair], loss_fn: LossFn, cfg: PairTraining, out: Path,
                   save: SaveFn, evaluate: Callable[[], dict[str, float]],
                   resumed: tuple[dict[str, torch.Tensor], dict] | None = None, progress: bool = True,
                   stop_after: int = 0) -> dict | None:
    """Train ``model``'s parameters that require gradients; returns the last epoch's metrics row, or
    None when ``stop_after`` (a step number) ended the session before the last step. ``resumed``: the
    (optimizer and random state, progress) of ``out/checkpoint``. Checkpoints go to ``out/checkpoint`` and one
    metrics row per epoch to ``out/metrics.csv``."""
    cfg.check()
    if not pairs:
        raise ScratchMLError("no preference pairs to train on")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)
    per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    total = cfg.epochs * per_epoch
    prog = {"step": 0, "elapsed": 0.0, "loss_sum": 0.0, "loss_steps": 0}
    torch.manual_seed(cfg.seed)  # dropout's masks
    if resumed:
        load_optimizer(optimizer, resumed[0], prefix="opt.")
        if "rng.torch" in resumed[0]:
            torch.set_rng_state(resumed[0]["rng.torch"])
        prog.update(resumed[1])
        truncate_metrics(out / "metrics.csv", prog["step"])
    row: dict = {}
    bar = tqdm(total=total, initial=prog["step"], desc="training", unit="step", disable=not progress,
               dynamic_ncols=True)
    start, last_save = time.perf_counter() - prog["elapsed"], time.perf_counter()
    model.train()
    end = min(total, stop_after) if stop_after else total
    while prog["step"] < end:
        epoch, k = divmod(prog["step"], per_epoch)
        order = np.random.default_rng(cfg.seed + epoch).permutation(len(pairs))
        batch = [pairs[i] for i in order[k * cfg.batch_size:(k + 1) * cfg.batch_size]]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(prog["step"] + 1, total, cfg)
        loss, _ = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm)
        optimizer.step()
        prog["step"] += 1
        prog["loss_sum"] += loss.item()
        prog["loss_steps"] += 1
        prog["elapsed"] = time.perf_counter() - start
        bar.update(1)
        bar.set_postfix(loss=f"{prog['loss_sum'] / prog['loss_steps']:.4f}")
        end_of_epoch = prog["step"] % per_epoch == 0 or prog["step"] == total
        if end_of_epoch:
            row = {"step": prog["step"], "epoch": math.ceil(prog["step"] / per_epoch),
                   "minutes": round(prog["elapsed"] / 60, 2),
                   "train_loss": round(prog["loss_sum"] / prog["loss_steps"], 5),
                   **{k: round(v, 5) for k, v in evaluate().items()}}
            model.train()
            append_metrics(out / "metrics.csv", row)
            log.info("epoch %d: %s", row["epoch"], ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
            prog["loss_sum"], prog["loss_steps"] = 0.0, 0
        if end_of_epoch or prog["step"] == end or time.perf_counter() - last_save > cfg.checkpoint_minutes * 60:
            state = {**optimizer_tensors(optimizer, prefix="opt."), "rng.torch": torch.get_rng_state()}
            save(out / "checkpoint", state, dict(prog))
            last_save = time.perf_counter()
    bar.close()
    return row if prog["step"] >= total else None
