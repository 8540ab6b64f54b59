"""Train the GPT on IMDb reviews: next-token prediction, AdamW, warm-up then cosine decay.

The recipe (Radford et al. 2019; Karpathy's nanoGPT for the small-scale settings):

- loss: the mean cross-entropy of every next token of every window (data.py);
- AdamW (Loshchilov & Hutter 2019), betas (0.9, ``beta2``), weight decay 0.1 on the matrices only (not
  on biases, LayerNorm gains, or the embeddings, which are looked up rather than multiplied);
- learning rate: a linear warm-up, then a cosine decay to ``min_lr_ratio`` of the peak at ``max_steps``;
- gradients clipped to norm 1;
- bfloat16 matrix products where the CPU or GPU computes them natively (``transformer.precision``).

The run trains its own tokenizer first (our byte-level BPE, on the training reviews), tokenizes the
reviews once into ``OUT/data/``, and then writes ``OUT/checkpoint`` (resumable: ``resume=True``
continues exactly, the same batches and the same numbers), ``OUT/metrics.csv``, ``OUT/training.png``
and, at the end, ``OUT/model`` (float16, with a model card).
"""

import json
import logging
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import refuse_fresh_start, write_text_atomic
from scratchml.llm import checkpoint, data, imdb
from scratchml.llm.card import model_card
from scratchml.llm.config import TrainConfig
from scratchml.llm.model import GPT, GPTConfig
from scratchml.llm.plots import plot_metrics
from scratchml.training import append_metrics, load_optimizer, optimizer_tensors, truncate_metrics
from scratchml.transformer.cross_entropy import cross_entropy
from scratchml.transformer.precision import autocast, use_bf16

log = logging.getLogger("scratchml.llm")
EOT = "<|endoftext|>"


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """The rate of step ``step`` (1-based): linear warm-up, then cosine from lr down to lr * min_lr_ratio."""
    if step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    low = cfg.lr * cfg.min_lr_ratio
    return low + 0.5 * (cfg.lr - low) * (1 + math.cos(math.pi * progress))


def _optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n not in ("tokens.weight", "positions.weight")]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and n not in ("tokens.weight",
                                                                                        "positions.weight"))]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, cfg.beta2))


def _streams(out: Path, tokenizer: Tokenizer, cfg: TrainConfig, progress: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(training stream, validation stream, validation bytes), tokenized once and kept in OUT/data."""
    folder = out / "data"
    files = [folder / "train.npy", folder / "valid.npy", folder / "valid_bytes.json"]
    if all(f.exists() for f in files):
        return (np.load(files[0], allow_pickle=False), np.load(files[1], allow_pickle=False),
                json.loads(files[2].read_text())["bytes"])
    train_texts, valid_texts = imdb.training_texts(cfg.valid_fraction, cfg.train_limit)
    eot = tokenizer.special_tokens[EOT]
    train = data.token_stream(tokenizer, train_texts, eot, progress)
    valid = data.token_stream(tokenizer, valid_texts, eot, progress)
    if len(valid) < cfg.context + 1:
        raise ScratchMLError(f"{len(valid_texts)} validation reviews, {len(valid)} tokens: fewer than one window of "
                             f"{cfg.context + 1}; raise valid_fraction or train_limit")
    folder.mkdir(parents=True, exist_ok=True)
    for f, arr in zip(files, (train, valid)):
        tmp = f.with_name(f.stem + ".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(f)
    valid_bytes = sum(len(t.encode("utf-8")) for t in valid_texts)
    write_text_atomic(files[2], json.dumps({"bytes": valid_bytes}))
    return train, valid, valid_bytes


@torch.no_grad()
def validation_loss(model: GPT, stream: np.ndarray, context: int, batch_size: int, bf16: bool) -> float:
    """Mean cross-entropy (nats per token) over the validation windows."""
    model.eval()
    device = next(model.parameters()).device
    starts = data.validation_windows(len(stream), context)
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        x, y = data.window_batch(stream, starts[i:i + batch_size], context, device)
        with autocast(device, bf16):
            logits = model(x)
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / max(count, 1)


def _step(model: GPT, optimizer, x: torch.Tensor, y: torch.Tensor, lr: float, clip_norm: float, bf16: bool) -> float:
    """One optimizer step on inputs x and targets y (B, T); returns the loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast(x.device, bf16):
        logits = model(x)  # (B, T, V)
    loss = cross_entropy(logits.flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.item()


def _resumed(ckpt: Path, cfg: TrainConfig):
    """(model, tokenizer, config.json, training state) of the checkpoint, checked against ``cfg``."""
    model, tokenizer, meta = checkpoint.load(ckpt)
    if not isinstance(meta.get("train"), dict) or not isinstance(meta.get("progress"), dict):
        raise ScratchMLError(f"{ckpt} is a model folder, not a training checkpoint: it cannot be resumed")
    saved = TrainConfig(**meta["train"])
    fixed = ("vocab_size", "context", "d_model", "n_layers", "n_heads", "dropout", "batch_size", "seed",
             "valid_fraction", "train_limit")
    changed = [k for k in fixed if getattr(saved, k) != getattr(cfg, k)]
    if changed:
        raise ScratchMLError(f"{ckpt} was trained with " + ", ".join(f"{k}={getattr(saved, k)}" for k in changed)
                             + ": resume with those")
    changed = [f"{k} {getattr(saved, k)} -> {getattr(cfg, k)}" for k in ("max_steps", "lr", "min_lr_ratio",
               "warmup_steps", "beta2", "weight_decay", "clip_norm") if getattr(saved, k) != getattr(cfg, k)]
    if changed:
        log.warning("%s: the optimizer runs with the new settings from here on", ", ".join(changed))
    return model, tokenizer, meta, checkpoint.load_train_state(ckpt)


def train(cfg: TrainConfig, out, resume: bool = False, progress: bool = True, device: str = "cpu",
          command: str = "", stop_after: int = 0) -> dict:
    """Train (or resume) into ``out``; returns a summary. ``stop_after``: stop after that step, leaving a
    checkpoint to resume (the schedule still spans ``cfg.max_steps``); 0: run to the end."""
    cfg.check()
    out, device = Path(out), torch.device(device)
    ckpt = out / "checkpoint"
    prog = {"step": 0, "epoch": 0, "batch": 0, "elapsed": 0.0, "tokens": 0, "loss_sum": 0.0, "loss_steps": 0}
    if resume:
        model, tokenizer, meta, state = _resumed(ckpt, cfg)
        prog.update(meta["progress"])
        commands = meta.get("commands", []) + [command]
    else:
        refuse_fresh_start(ckpt)
        for stale in (out / "data", out / "metrics.csv"):  # left by a run that never reached its first checkpoint
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        train_texts, _ = imdb.training_texts(cfg.valid_fraction, cfg.train_limit)
        log.info("training the tokenizer (%d tokens) on %d reviews", cfg.vocab_size, len(train_texts))
        tokenizer = Tokenizer.train(train_texts, cfg.vocab_size, [EOT], progress=progress)
        del train_texts
        torch.manual_seed(cfg.seed)
        model = GPT(GPTConfig(tokenizer.vocab_size, cfg.context, cfg.d_model, cfg.n_layers, cfg.n_heads,
                              cfg.dropout, eot_id=tokenizer.special_tokens[EOT]))
        commands = [command]
    if prog["step"] >= cfg.max_steps:
        if (out / "model").exists():
            raise ScratchMLError(f"{ckpt} has taken {prog['step']} steps already: raise max_steps to go on")
        log.info("the run had finished; writing its model folder")  # the last session stopped before it did
    model.to(device).train()
    bf16 = use_bf16(device, cfg.bf16)
    optimizer = _optimizer(model, cfg)
    if resume:
        load_optimizer(optimizer, state, prefix="opt.")
        torch.set_rng_state(state["rng.torch"])
        if device.type == "cuda" and "rng.cuda" in state:
            torch.cuda.set_rng_state(state["rng.cuda"], device)
        truncate_metrics(out / "metrics.csv", prog["step"])
    train_stream, valid_stream, valid_bytes = _streams(out, tokenizer, cfg, progress)
    per_epoch = len(data.epoch_windows(len(train_stream), cfg.context, cfg.seed, 0)) // cfg.batch_size
    if len(range(cfg.context - 1, len(train_stream) - cfg.context, cfg.context)) < cfg.batch_size:  # worst offset
        raise ScratchMLError(f"{len(train_stream)} training tokens: not enough for one batch of {cfg.batch_size} "
                             f"windows of {cfg.context}")
    log.info("%.2f M parameters, %s; %d training tokens (%d steps per epoch), %d validation tokens",
             model.num_parameters() / 1e6, "bfloat16" if bf16 else "float32", len(train_stream), per_epoch,
             len(valid_stream))

    def meta() -> dict:
        return {"train": asdict(cfg), "progress": dict(prog), "commands": commands,
                "parameters": model.num_parameters(),
                "data": {"train_tokens": len(train_stream), "valid_tokens": len(valid_stream),
                         "valid_bytes": valid_bytes}}

    def save_checkpoint() -> None:
        state = {"rng.torch": torch.get_rng_state(), **optimizer_tensors(optimizer, prefix="opt.")}
        if device.type == "cuda":  # dropout on the GPU draws from its own generator
            state["rng.cuda"] = torch.cuda.get_rng_state(device)
        checkpoint.save(ckpt, model, tokenizer, meta(), state)

    def evaluate(tok_s: float, lr: float) -> None:
        nll = validation_loss(model, valid_stream, cfg.context, cfg.batch_size, bf16)
        bpb = nll * (len(valid_stream) - 1) / math.log(2) / valid_bytes
        train_loss = prog["loss_sum"] / prog["loss_steps"] if prog["loss_steps"] else float("nan")
        append_metrics(out / "metrics.csv", {
            "step": prog["step"], "epoch": round(prog["step"] / per_epoch, 3),
            "minutes": round(prog["elapsed"] / 60, 2),
            "train_loss": round(train_loss, 4), "valid_loss": round(nll, 4), "valid_bits_per_byte": round(bpb, 4),
            "tokens_per_s": round(tok_s), "lr": f"{lr:.3g}"})
        log.info("step %d: train loss %.3f, valid loss %.3f (%.3f bits per byte)", prog["step"], train_loss, nll, bpb)
        prog["loss_sum"], prog["loss_steps"] = 0.0, 0
        plot_metrics(out / "metrics.csv", out / "training.png")

    if not resume:
        evaluate(0.0, 0.0)
    session_start = time.time()
    run_start, last_save, window_start, window_tokens = session_start - prog["elapsed"], session_start, session_start, 0
    bar = tqdm(total=cfg.max_steps, initial=prog["step"], desc="training", unit="step", disable=not progress,
               dynamic_ncols=True)
    while prog["step"] < cfg.max_steps:
        starts = data.epoch_windows(len(train_stream), cfg.context, cfg.seed, prog["epoch"])
        batches = len(starts) // cfg.batch_size  # the epoch's random offset can change it by one
        if prog["batch"] >= batches:
            prog["epoch"], prog["batch"] = prog["epoch"] + 1, 0
            continue
        b = prog["batch"]
        x, y = data.window_batch(train_stream, starts[b * cfg.batch_size:(b + 1) * cfg.batch_size], cfg.context, device)
        lr = learning_rate(prog["step"] + 1, cfg)
        loss = _step(model, optimizer, x, y, lr, cfg.clip_norm, bf16)
        prog["step"], prog["batch"] = prog["step"] + 1, b + 1
        prog["tokens"] += y.numel()
        prog["loss_sum"] += loss
        prog["loss_steps"] += 1
        prog["elapsed"] = time.time() - run_start
        window_tokens += y.numel()
        tok_s = window_tokens / max(time.time() - window_start, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{prog['loss_sum'] / prog['loss_steps']:.3f}", tok_s=f"{tok_s:.0f}", refresh=False)
        out_of_time = (bool(cfg.minutes) and time.time() - session_start >= cfg.minutes * 60) or \
            (bool(stop_after) and prog["step"] >= stop_after)
        if prog["step"] % cfg.eval_every == 0 or prog["step"] == cfg.max_steps:
            evaluate(tok_s, lr)
            window_start, window_tokens = time.time(), 0
        if prog["step"] % cfg.eval_every == 0 or prog["step"] == cfg.max_steps or out_of_time or \
                time.time() - last_save >= cfg.checkpoint_minutes * 60:
            prog["elapsed"] = time.time() - run_start
            save_checkpoint()
            last_save = time.time()
        if out_of_time:
            break
    bar.close()
    finished = prog["step"] >= cfg.max_steps
    if finished:
        card = model_card({"model": model.cfg.to_dict(), **meta()}, out / "metrics.csv")
        checkpoint.save(out / "model", model, tokenizer, meta(), half=True, extra_files={"README.md": card})
    return {"steps": prog["step"], "finished": finished, "minutes": prog["elapsed"] / 60,
            "parameters": model.num_parameters(), "tokens": prog["tokens"],
            "model": str(out / "model") if finished else None}
