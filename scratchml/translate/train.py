"""The training loop of the translator.

Recipe (Vaswani et al. 2017, section 5, adapted to a laptop CPU):
- batches of about ``max_tokens`` padded tokens, sentences of similar length together (batching.py);
- label-smoothed cross-entropy (epsilon 0.1, section 5.4), summed over the target tokens of the
  global batch and divided by their number, so that the gradient does not depend on how the batch
  is split across processes;
- AdamW (beta2 0.98) with warm-up, inverse square root and an optional cooldown (schedule.py);
- gradient clipping; bfloat16 autocast where the hardware computes it natively (fp32 master
  weights; scratchml.transformer.precision); on a GPU when there is one;
- an exponential moving average of the weights (ema.py), which is what gets validated,
  checkpointed as the model and exported; the raw training weights live in the training state;
- a budget: training stops after ``minutes`` (0: no clock), ``max_steps`` or ``max_epochs``, whichever
  comes first; validation loss and BLEU on the held-out split after every epoch (validate.py), an
  atomic checkpoint every ``checkpoint_minutes`` (checkpoint.py, train_state.py).
"""

import csv
import logging
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.files import refuse_fresh_start
from scratchml.transformer import autocast, use_bf16
from scratchml.transformer.cross_entropy import cross_entropy
from scratchml.translate import checkpoint
from scratchml.translate.batching import collate, make_batches
from scratchml.translate.config import TrainConfig, TransformerConfig, preset
from scratchml.translate.corpus import Splits
from scratchml.translate.dataset import prepare_data
from scratchml.translate.distributed import any_rank, world
from scratchml.translate.ema import EMA
from scratchml.translate.model import Transformer
from scratchml.translate.plots import plot_metrics
from scratchml.translate.schedule import learning_rate
from scratchml.translate.train_state import pack_state, read_for_resume, record_stage, restore_raw_weights, unpack_state
from scratchml.translate.validate import validation_bleu, validation_loss

log = logging.getLogger("scratchml.translate")
METRICS = ["epoch", "step", "minutes", "train_loss", "valid_nll", "valid_bleu", "tokens_per_s", "lr"]


def batch_loss(model, src, tgt_in, tgt_out, pad_id, smoothing, n_tokens, world_size, bf16):
    """Label-smoothed CE summed over this process's tokens, / tokens of the global batch * world
    (DDP averages gradients over processes, which the * world undoes)."""
    real = tgt_out != pad_id  # (B, T): project and score only real target tokens
    with autocast(src.device, bf16):
        logits = model(src, tgt_in, select=real)  # (N, V)
    loss_sum = cross_entropy(logits, tgt_out[real], smoothing, reduction="sum")
    return loss_sum / n_tokens * world_size, loss_sum.detach()


def _out_of_time(prog: dict, cfg: TrainConfig) -> bool:
    return bool(cfg.minutes) and prog["elapsed"] >= cfg.minutes * 60


def _make_optimizer(model: Transformer, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and LayerNorm gains (vectors)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9, fused=True)


def _build(cfg: TrainConfig, tokenizer, resumed, ckpt_dir: Path, device: torch.device, parent=None):
    """(model config, model, its EMA or None, AdamW, progress counters, stages): new, as the
    checkpoint left them when ``resumed``, or from the weights of ``parent`` (a loaded model
    directory: model, tokenizer, metadata), whose step count the schedule goes on from."""
    sp = tokenizer.special_tokens
    mcfg = preset(cfg.size, vocab_size=tokenizer.vocab_size, dropout=cfg.dropout,
                  pad_id=sp["<pad>"], bos_id=sp["<bos>"], eos_id=sp["<eos>"])
    model = Transformer(mcfg).to(device)
    if resumed:
        # Dropout is a training setting, not part of the architecture: a run may go on with another.
        saved_dropout = resumed.meta["model"].get("dropout", TransformerConfig().dropout)
        if saved_dropout != mcfg.dropout:
            log.info("resuming with dropout %g (was %g)", mcfg.dropout, saved_dropout)
        loaded, _, _ = checkpoint.load_model_dir(ckpt_dir, expect=replace(mcfg, dropout=saved_dropout))
        model.load_state_dict(loaded.state_dict())  # the averaged weights when EMA is on
    elif parent:
        parent_model, _, parent_meta = parent
        if replace(parent_model.cfg, dropout=mcfg.dropout) != mcfg:
            raise ScratchMLError(f"the model to start from is not the {cfg.size!r} preset "
                                 f"({parent_model.cfg}): pass its --size")
        model.load_state_dict(parent_model.state_dict())
    prog = {"step": 0, "epoch": 0, "batch": 0, "elapsed": 0.0, "tokens": 0}
    stages: list[dict] = []  # the settings of each stretch of training, so the model card can replay them
    if parent:  # the model's training so far counts: the schedule, the budget and the card go on from it
        done = parent[2].get("progress", {})
        prog.update({k: done.get(k, 0) for k in ("step", "elapsed", "tokens")})
        stages = [*parent[2].get("stages", [])]
        if cfg.max_steps and prog["step"] >= cfg.max_steps:
            raise ScratchMLError(f"the model to start from has trained {prog['step']} steps: --max-steps counts "
                                 "them too, so raise it above that")
    ema = EMA(model, cfg.ema_decay, updates=resumed.meta["progress"]["step"] if resumed else prog["step"]) \
        if cfg.ema_decay else None
    optimizer = _make_optimizer(model, cfg)
    if resumed:
        restore_raw_weights(model, resumed, ema is not None, ckpt_dir)
        unpack_state(optimizer, resumed.state, device)
        prog.update(resumed.meta["progress"])
        stages = resumed.meta.get("stages") or [{"from_step": 0, "train": resumed.meta["train"]}]
        if (cfg.max_steps and prog["step"] >= cfg.max_steps) or _out_of_time(prog, cfg):
            raise ScratchMLError(f"{ckpt_dir} has trained {prog['step']} steps in {prog['elapsed'] / 60:.1f} "
                                 f"minutes already: raise max_steps or minutes to go on")
    return mcfg, model, ema, optimizer, prog, stages


def _step(model, optimizer, ema, cfg: TrainConfig, lr: float, batch, pad_id: int, n_tokens: int, world_size: int,
          bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step at rate ``lr`` on ``batch`` (src, tgt_in, tgt_out); returns ``batch_loss``'s pair."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss, loss_sum = batch_loss(model, *batch, pad_id, cfg.label_smoothing, n_tokens, world_size, bf16)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
    optimizer.step()
    if ema:
        ema.update()
    return loss, loss_sum


def _validate(model, tokenizer, data, cfg: TrainConfig, bf16: bool) -> tuple[float, float]:
    """Validation NLL and BLEU (NaN when ``valid_bleu_sentences`` is 0)."""
    v_nll = validation_loss(model, data, cfg.max_tokens, bf16)
    v_bleu = validation_bleu(model, tokenizer, data, cfg.valid_bleu_sentences, bf16) \
        if cfg.valid_bleu_sentences else float("nan")
    return v_nll, v_bleu


def _warn_if_first_word_changes(cfg: TrainConfig, meta: dict | None) -> None:
    """A model trained on one reading of the first word (first_word.py) and trained on with the
    other sees its sentences change under it: allowed, but never silently."""
    before = ((meta or {}).get("train") or {}).get("first_word", "as-written")
    if meta is not None and before != cfg.first_word:
        log.warning("the model was trained with --first-word %s and now trains with --first-word %s: its "
                    "English input changes form (pass --first-word %s to keep it)", before, cfg.first_word, before)


def train(cfg: TrainConfig, out, resume: bool = False, progress: bool = True,
          splits: Splits | None = None, device: torch.device | str = "cpu", init=None) -> dict:
    """Train (or resume) into ``out``; returns a summary with the loss of every step taken.
    ``out/checkpoint`` is resumable. ``init``: a model directory to fine-tune (its weights and
    tokenizer; the optimizer starts afresh). ``splits`` replaces the English-Spanish corpus (tests)."""
    out, device = Path(out), torch.device(device)
    ckpt_dir = out / "checkpoint"
    if cfg.cooldown_steps and cfg.minutes:
        log.warning("the %g-minute budget may end the run before its cooldown does; minutes=0 lets "
                    "max_steps alone decide", cfg.minutes)
    rank, world_size = world()
    bf16 = use_bf16(device, cfg.bf16)
    torch.manual_seed(cfg.seed)

    if resume and init:
        raise ScratchMLError("--resume continues a checkpoint and --init starts a new run from a model: choose one")
    resumed = read_for_resume(ckpt_dir, cfg) if resume else None
    if not resume:
        refuse_fresh_start(ckpt_dir)
    parent = checkpoint.load_model_dir(init) if init else None
    tokenizer = resumed.tokenizer if resumed else parent[1] if parent else None
    _warn_if_first_word_changes(cfg, resumed.meta if resumed else parent[2] if parent else None)
    tokenizer, data = prepare_data(cfg, tokenizer, splits, progress=rank == 0, max_len=preset(cfg.size).max_len)
    mcfg, model, ema, optimizer, prog, stages = _build(cfg, tokenizer, resumed, ckpt_dir, device, parent)
    stage = {"from_step": prog["step"], "train": asdict(cfg), "processes": world_size, "device": device.type}
    if parent:
        stages.append({**stage, "init": str(init)})  # a new optimizer: a stage even with the same settings
    else:
        record_stage(stages, stage)
    ddp_model = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel
        ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    n_params = model.num_parameters()
    hardware = {"device": device.type, "processes": world_size, "cpu_cores": os.cpu_count(),
                "machine": platform.machine(), "precision": "bfloat16" if bf16 else "float32",
                **({"gpu": torch.cuda.get_device_name(device)} if device.type == "cuda" else {})}
    metrics_file = out / "metrics.csv"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log.info("model: %s, %.2f M parameters, %s; %d training pairs after length filter",
                 cfg.size, n_params / 1e6, hardware["precision"], len(data.train_src))
        if not resumed:
            with open(metrics_file, "w", newline="") as f:
                csv.writer(f).writerow(METRICS)

    averaged = ema.applied if ema else nullcontext

    def save():
        if rank != 0:
            return
        meta_out = {"train": asdict(cfg), "stages": stages, "progress": dict(prog), "parameters": n_params,
                    "data": {"corpus": cfg.corpus, "tatoeba_copies": cfg.tatoeba_copies,
                             "phrase_copies": cfg.phrase_copies,
                             "removed_test_overlap": data.removed}, "hardware": hardware}
        raw = dict(model.named_parameters()) if ema else {}
        train_state = pack_state(optimizer, prog, raw, device)
        with averaged():
            checkpoint.save_model_dir(ckpt_dir, model, tokenizer, meta_out, train_state)

    src_lens = [len(s) + 1 for s in data.train_src]
    tgt_lens = [len(t) + 1 for t in data.train_tgt]
    model.train()
    step_losses: list[float] = []
    last_save = time.time()
    run_start = time.time() - prog["elapsed"]
    stop = False
    while prog["epoch"] < cfg.max_epochs and not stop:
        batches = make_batches(src_lens, tgt_lens, cfg.max_tokens, cfg.seed, prog["epoch"])
        if world_size > 1:
            batches = [b for b in batches if len(b) >= world_size]
        if prog["batch"] >= len(batches):  # the last session stopped on this epoch's final batch
            prog["epoch"], prog["batch"] = prog["epoch"] + 1, 0
            continue
        bar = tqdm(total=len(batches), initial=prog["batch"], disable=not progress or rank != 0,
                   desc=f"epoch {prog['epoch'] + 1}", unit="batch", dynamic_ncols=True)
        epoch_loss, epoch_tokens, epoch_start = 0.0, 0, time.time()
        for b in range(prog["batch"], len(batches)):
            idx = batches[b]
            mine = idx[rank::world_size]
            src, tgt_in, tgt_out = collate([data.train_src[i] for i in mine], [data.train_tgt[i] for i in mine],
                                           mcfg.bos_id, mcfg.eos_id, mcfg.pad_id, device)
            n_tokens = sum(tgt_lens[i] for i in idx)  # target tokens of the whole global batch
            lr = learning_rate(prog["step"] + 1, cfg)
            loss, loss_sum = _step(ddp_model, optimizer, ema, cfg, lr, (src, tgt_in, tgt_out), mcfg.pad_id,
                                   n_tokens, world_size, bf16)
            prog["step"] += 1
            prog["batch"] = b + 1
            prog["tokens"] += n_tokens
            epoch_loss += loss_sum.item()
            step_losses.append(loss.item() / world_size)
            epoch_tokens += int((tgt_out != mcfg.pad_id).sum())
            prog["elapsed"] = time.time() - run_start
            tok_s = epoch_tokens * world_size / max(time.time() - epoch_start, 1e-9)
            bar.update(1)
            left = {"left": f"{max(cfg.minutes - prog['elapsed'] / 60, 0):.0f}min"} if cfg.minutes else {}
            bar.set_postfix(loss=f"{epoch_loss / max(epoch_tokens, 1):.3f}", tok_s=f"{tok_s:.0f}",
                            step=prog["step"], **left, refresh=False)
            if any_rank(_out_of_time(prog, cfg), device) or (cfg.max_steps and prog["step"] >= cfg.max_steps):
                stop = True
                break
            if time.time() - last_save >= cfg.checkpoint_minutes * 60:
                save()
                last_save = time.time()
        bar.close()
        if not stop:
            prog["epoch"] += 1
            prog["batch"] = 0
        if rank == 0:
            with averaged():
                v_nll, v_bleu = _validate(model, tokenizer, data, cfg, bf16)
            row = [prog["epoch"], prog["step"], round(prog["elapsed"] / 60, 2),
                   round(epoch_loss / max(epoch_tokens, 1), 4), round(v_nll, 4), round(v_bleu, 2),
                   round(tok_s), f"{lr:.3g}"]
            with open(metrics_file, "a", newline="") as f:
                csv.writer(f).writerow(row)
            log.info("after epoch %d: train loss %.3f, valid NLL %.3f, valid BLEU %.1f, %.0f tokens/s",
                     prog["epoch"], row[3], v_nll, v_bleu, tok_s)
            prog["elapsed"] = time.time() - run_start  # validation counts against the budget
            if stop or prog["epoch"] >= cfg.max_epochs:
                prog["elapsed_at_end"] = prog["elapsed"]
            save()
            last_save = time.time()
            plot_metrics(metrics_file, out / "training.png")
        if world_size > 1:
            dist.barrier()
        prog["elapsed"] = time.time() - run_start
        if any_rank(_out_of_time(prog, cfg), device):
            stop = True
    return {"steps": prog["step"], "epochs": prog["epoch"], "minutes": prog["elapsed"] / 60,
            "parameters": n_params, "tokens": prog["tokens"], "step_losses": step_losses}
