"""Training of the translator: data preparation, the optimization loop, validation, checkpoints.

Recipe (Vaswani et al. 2017, section 5, adapted to a laptop CPU):
- batches of about ``max_tokens`` padded tokens, sentences of similar length together;
- label-smoothed cross-entropy (epsilon 0.1, section 5.4), summed over the target tokens of the
  global batch and divided by their number, so that the gradient does not depend on how the batch
  is split across processes;
- AdamW (beta2 0.98) with the inverse-square-root schedule: lr = peak * min(s / w, sqrt(w / s)),
  optionally cooled down linearly to 0 over the last ``cooldown_steps`` of ``max_steps`` (the
  "warmup-stable-decay" shape: Hägele et al. 2024 find such a final decay matches a cosine run);
- gradient clipping, bf16 autocast (fp32 master weights); on a GPU when there is one;
- an exponential moving average of the weights (``ema_decay``), which is what gets validated,
  checkpointed as the model and exported; the raw training weights live in the training state;
- a budget: training stops after ``minutes`` (0: no clock), ``max_steps`` or ``max_epochs``, whichever
  comes first; validation loss and BLEU on the held-out split after every epoch, an atomic
  checkpoint every ``checkpoint_minutes``.

Data parallel: run the same script under ``torchrun --nproc-per-node N``; every process builds the
same global batches and trains on its slice (PyTorch DDP: gloo on CPU, NCCL on GPU).
"""

import csv
import logging
import math
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.translate import checkpoint
from scratchml.translate.batching import collate, make_batches
from scratchml.translate.config import TrainConfig, TransformerConfig, preset
from scratchml.translate.corpus import Splits, load_pairs, make_splits
from scratchml.translate.ema import EMA
from scratchml.translate.model import Transformer
from scratchml.translate.names import swap_names
from scratchml.translate.translator import Translator

log = logging.getLogger("scratchml.translate")
SPECIALS = ("<pad>", "<bos>", "<eos>")


# ---- distributed helpers ------------------------------------------------------------------------

def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def pick_device(name: str = "auto") -> torch.device:
    """"auto": a GPU when CUDA is available (under torchrun, the one of LOCAL_RANK), else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise ScratchMLError(f"unknown device {name!r}; use auto, cpu or cuda")
    if not torch.cuda.is_available():
        raise ScratchMLError("--device cuda, but PyTorch sees no CUDA GPU here")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank >= torch.cuda.device_count():
        raise ScratchMLError(f"process LOCAL_RANK={local_rank} has no GPU of its own ({torch.cuda.device_count()} "
                             f"visible): start at most that many processes per node")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def init_distributed(device: torch.device) -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL between GPUs,
    gloo between CPU processes."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return True
    return False


# ---- data ---------------------------------------------------------------------------------------

@dataclass
class EncodedData:
    train_src: list[list[int]]
    train_tgt: list[list[int]]
    valid_src: list[list[int]]
    valid_tgt: list[list[int]]
    valid_text: list[tuple[str, str]]
    removed: int


def prepare_data(cfg: TrainConfig, tokenizer: Tokenizer | None,
                 splits: Splits | None = None) -> tuple[Tokenizer, EncodedData]:
    """Split the corpus (unless ``splits`` is given), train the BPE tokenizer on the training split
    (unless ``tokenizer`` is given), and encode both splits."""
    splits = splits or make_splits(load_pairs())
    train = splits.train[:cfg.train_limit] if cfg.train_limit else splits.train
    log.info("corpus: %d training pairs, %d validation pairs, %d removed (overlap with test sets)",
             len(train), len(splits.valid), splits.removed)
    if tokenizer is None:
        texts = [en for en, _ in train] + [es for _, es in train]
        tokenizer = Tokenizer.train(texts, cfg.vocab_size, SPECIALS, progress=_world()[0] == 0)
    if cfg.name_swap:                                       # after the tokenizer: it is the corpus's
        copies = swap_names(train, cfg.name_swap, cfg.seed)
        log.info("name swap: %d copies of pairs sharing a name, renamed", len(copies))
        train = train + copies
    enc = lambda xs: tokenizer.encode_batch(xs, allow_special=False)  # noqa: E731
    tr_src, tr_tgt = enc([en for en, _ in train]), enc([es for _, es in train])
    keep = [i for i in range(len(train)) if 0 < len(tr_src[i]) <= cfg.max_sentence_tokens
            and 0 < len(tr_tgt[i]) <= cfg.max_sentence_tokens]
    va_src, va_tgt = enc([en for en, _ in splits.valid]), enc([es for _, es in splits.valid])
    data = EncodedData([tr_src[i] for i in keep], [tr_tgt[i] for i in keep], va_src, va_tgt,
                       splits.valid, splits.removed)
    return tokenizer, data


# ---- optimizer state <-> safetensors --------------------------------------------------------------

def _pack_state(optimizer: torch.optim.Optimizer, progress: dict, raw: dict[str, torch.Tensor],
                device: torch.device) -> dict[str, torch.Tensor]:
    """Optimizer moments, RNG, progress and (with EMA on) the raw training weights."""
    state = {"rng.torch": torch.get_rng_state()}
    if device.type == "cuda":                               # dropout on the GPU draws from its own RNG
        state["rng.cuda"] = torch.cuda.get_rng_state(device)
    state.update({f"raw.{k}": v.detach().clone() for k, v in raw.items()})
    for i, s in optimizer.state_dict()["state"].items():
        for key, value in s.items():
            state[f"opt.{i}.{key}"] = torch.as_tensor(value).clone()
    state["progress"] = torch.tensor([progress["step"], progress["epoch"], progress["batch"]])
    return state


def _restore_raw_weights(model: Transformer, state: dict[str, torch.Tensor], ema_on: bool,
                         ckpt_dir: Path, meta: dict) -> None:
    """With EMA on, the checkpoint's model file holds the average: put the raw weights back."""
    raw = {k[4:]: v for k, v in state.items() if k.startswith("raw.")}
    if ema_on and not raw:
        raise ScratchMLError(f"{ckpt_dir} was trained without EMA; resume with --ema-decay 0")
    if raw and not ema_on:
        raise ScratchMLError(f"{ckpt_dir} was trained with EMA; resume with --ema-decay {meta['train']['ema_decay']}")
    model.load_state_dict(raw, strict=False)


def _unpack_state(optimizer: torch.optim.Optimizer, state: dict[str, torch.Tensor],
                  device: torch.device) -> None:
    torch.set_rng_state(state["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in state:
        torch.cuda.set_rng_state(state["rng.cuda"], device)
    sd = optimizer.state_dict()
    per_param: dict[int, dict] = {}
    for name, value in state.items():
        if name.startswith("opt."):
            _, i, key = name.split(".", 2)
            per_param.setdefault(int(i), {})[key] = value
    sd["state"] = per_param
    optimizer.load_state_dict(sd)


# ---- the loop -----------------------------------------------------------------------------------

def inverse_sqrt_lr(step: int, peak: float, warmup: int) -> float:
    step = max(step, 1)
    return peak * min(step / warmup, math.sqrt(warmup / step))


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """The rate of optimizer step ``step`` (1-based): inverse square root, times the cooldown's
    linear ramp (max_steps - step + 1) / cooldown_steps over the last cooldown_steps steps."""
    lr = inverse_sqrt_lr(step, cfg.lr, cfg.warmup_steps)
    if cfg.cooldown_steps:
        lr *= min(1.0, max(0.0, (cfg.max_steps - step + 1) / cfg.cooldown_steps))
    return lr


def _record_stage(stages: list[dict], stage: dict) -> None:
    """Append this session's settings when they differ from the last stage's (a new stage);
    a last stage that took no step is replaced."""
    last = stages[-1] if stages else None
    if last and last["from_step"] == stage["from_step"]:
        stages[-1] = stage
    elif not last or (asdict(TrainConfig.from_dict(last["train"])), last.get("processes", stage["processes"]),
                      last.get("device", stage["device"])) != (stage["train"], stage["processes"], stage["device"]):
        stages.append(stage)


def _out_of_time(prog: dict, cfg: TrainConfig) -> bool:
    return bool(cfg.minutes) and prog["elapsed"] >= cfg.minutes * 60


def _any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process if it is true on one: ranks that stop on different steps would leave
    the others waiting in their next all-reduce forever (each rank reads its own clock)."""
    if _world()[1] == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def batch_loss(model, src, tgt_in, tgt_out, pad_id, smoothing, n_tokens, world, bf16):
    """Label-smoothed CE summed over this process's tokens, / tokens of the global batch * world
    (DDP averages gradients over processes, which the * world undoes)."""
    real = tgt_out != pad_id  # (B, T): project and score only real target tokens
    with torch.autocast(src.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(src, tgt_in, select=real)  # (N, V)
    loss_sum = F.cross_entropy(logits.float(), tgt_out[real], label_smoothing=smoothing, reduction="sum")
    return loss_sum / n_tokens * world, loss_sum.detach()


@torch.no_grad()
def validation_loss(model: Transformer, data: EncodedData, cfg: TrainConfig) -> float:
    """Mean per-token negative log-likelihood (no label smoothing) on the validation split."""
    model.eval()
    mc, device = model.cfg, next(model.parameters()).device
    total, count = 0.0, 0
    lens = [len(s) + 1 for s in data.valid_src]
    tlens = [len(t) + 1 for t in data.valid_tgt]
    for idx in make_batches(lens, tlens, cfg.max_tokens, seed=0, epoch=0):
        src, tgt_in, tgt_out = collate([data.valid_src[i] for i in idx], [data.valid_tgt[i] for i in idx],
                                       mc.bos_id, mc.eos_id, mc.pad_id, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = model(src, tgt_in)
        total += F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten(),
                                 ignore_index=mc.pad_id, reduction="sum").item()
        count += int((tgt_out != mc.pad_id).sum())
    model.train()
    return total / max(count, 1)


def validation_bleu(model: Transformer, tokenizer: Tokenizer, data: EncodedData, n: int, bf16: bool) -> float:
    """Greedy-decoding BLEU (sacrebleu) on the first ``n`` validation pairs."""
    import sacrebleu

    model.eval()
    translator = Translator(model, tokenizer, bf16=bf16)
    hyps = translator.translate_ids(data.valid_src[:n], beam=1)
    model.train()
    refs = [es for _, es in data.valid_text[:n]]
    return sacrebleu.corpus_bleu([tokenizer.decode(h, skip_special=True) for h in hyps], [refs]).score


def train(cfg: TrainConfig, out, resume: bool = False, progress: bool = True,
          splits: Splits | None = None, device: torch.device | str = "cpu") -> dict:
    """Train (or resume) into ``out``; returns a summary with the loss of every step taken.
    ``out/checkpoint`` is resumable. ``splits`` replaces the English-Spanish corpus (tests)."""
    out, device = Path(out), torch.device(device)
    ckpt_dir = out / "checkpoint"
    if cfg.cooldown_steps < 0:
        raise ScratchMLError(f"--cooldown-steps must be 0 or more, got {cfg.cooldown_steps}")
    if cfg.cooldown_steps and cfg.cooldown_steps > cfg.max_steps:
        raise ScratchMLError(f"--cooldown-steps {cfg.cooldown_steps} needs --max-steps of at least as "
                             f"many (got {cfg.max_steps}): the cooldown ends at the last step")
    if not 0 <= cfg.name_swap <= 1:
        raise ScratchMLError(f"--name-swap is a fraction of the pairs, within 0..1; got {cfg.name_swap}")
    if cfg.cooldown_steps and cfg.minutes:
        log.warning("the %g-minute budget may end the run before its cooldown does; --minutes 0 lets "
                    "--max-steps alone decide", cfg.minutes)
    rank, world = _world()
    torch.manual_seed(cfg.seed)

    tokenizer, state, meta = None, None, None
    if resume:
        meta = checkpoint.read_meta(ckpt_dir)
        if not (checkpoint.resolve(ckpt_dir) / "train_state.safetensors").exists():
            raise ScratchMLError(f"{ckpt_dir} has no train_state.safetensors: an exported model, "
                                 f"not a training checkpoint, cannot be resumed")
        if not isinstance(meta.get("train"), dict) or not isinstance(meta.get("progress"), dict):
            raise ScratchMLError(f"{ckpt_dir}/config.json lacks the training settings: the checkpoint is corrupt")
        saved = TrainConfig.from_dict(meta["train"])
        if (saved.size, saved.vocab_size, saved.seed) != (cfg.size, cfg.vocab_size, cfg.seed):
            raise ScratchMLError(f"{ckpt_dir} was trained with size={saved.size} vocab={saved.vocab_size} "
                                 f"seed={saved.seed}; resume with the same settings")
        _, tokenizer, _ = checkpoint.load_model_dir(ckpt_dir)
    elif (ckpt_dir / "config.json").exists():
        raise ScratchMLError(f"{ckpt_dir} already holds a checkpoint: pass --resume to continue it, "
                             f"or choose another --out")
    tokenizer, data = prepare_data(cfg, tokenizer, splits)
    sp = tokenizer.special_tokens
    mcfg = preset(cfg.size, vocab_size=tokenizer.vocab_size, dropout=cfg.dropout,
                  pad_id=sp["<pad>"], bos_id=sp["<bos>"], eos_id=sp["<eos>"])
    model = Transformer(mcfg).to(device)
    if resume:
        # Dropout is a training setting, not part of the architecture: a run may go on with another.
        saved_dropout = meta["model"].get("dropout", TransformerConfig().dropout)
        if saved_dropout != mcfg.dropout:
            log.info("resuming with dropout %g (was %g)", mcfg.dropout, saved_dropout)
        loaded, _, _ = checkpoint.load_model_dir(ckpt_dir, expect=replace(mcfg, dropout=saved_dropout))
        model.load_state_dict(loaded.state_dict())  # the averaged weights when EMA is on
        state = checkpoint.load_train_state(ckpt_dir)
    ema = EMA(model, cfg.ema_decay, updates=meta["progress"]["step"] if resume else 0) \
        if cfg.ema_decay else None
    if resume:
        _restore_raw_weights(model, state, ema is not None, ckpt_dir, meta)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9, fused=True)
    prog = {"step": 0, "epoch": 0, "batch": 0, "elapsed": 0.0, "tokens": 0}
    stages: list[dict] = []  # the settings of each stretch of training, so the model card can replay them
    if resume:
        _unpack_state(optimizer, state, device)
        prog.update(meta["progress"])
        stages = meta.get("stages") or [{"from_step": 0, "train": meta["train"]}]
        if (cfg.max_steps and prog["step"] >= cfg.max_steps) or _out_of_time(prog, cfg):
            raise ScratchMLError(f"{ckpt_dir} has trained {prog['step']} steps in {prog['elapsed'] / 60:.1f} "
                                 f"minutes already: raise --max-steps or --minutes to go on")
    _record_stage(stages, {"from_step": prog["step"], "train": asdict(cfg), "processes": world,
                           "device": device.type})
    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    n_params = model.num_parameters()
    hardware = {"device": device.type, "processes": world, "cpu_cores": os.cpu_count(), "machine": platform.machine(),
                **({"gpu": torch.cuda.get_device_name(device)} if device.type == "cuda" else {})}
    metrics_file = out / "metrics.csv"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log.info("model: %s, %.2f M parameters; %d training pairs after length filter",
                 cfg.size, n_params / 1e6, len(data.train_src))
        if not resume:
            with open(metrics_file, "w", newline="") as f:
                csv.writer(f).writerow(["epoch", "step", "minutes", "train_loss", "valid_nll",
                                        "valid_bleu", "tokens_per_s", "lr"])

    averaged = ema.applied if ema else nullcontext

    def save():
        if rank != 0:
            return
        meta_out = {"train": asdict(cfg), "stages": stages, "progress": dict(prog), "parameters": n_params,
                    "removed_test_overlap": data.removed, "hardware": hardware}
        raw = {n: p for n, p in model.named_parameters()} if ema else {}
        train_state = _pack_state(optimizer, prog, raw, device)
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
        if world > 1:
            batches = [b for b in batches if len(b) >= world]
        if prog["batch"] >= len(batches):  # the last session stopped on this epoch's final batch
            prog["epoch"], prog["batch"] = prog["epoch"] + 1, 0
            continue
        bar = tqdm(total=len(batches), initial=prog["batch"], disable=not progress or rank != 0,
                   desc=f"epoch {prog['epoch'] + 1}", unit="batch", dynamic_ncols=True)
        epoch_loss, epoch_tokens, epoch_start = 0.0, 0, time.time()
        for b in range(prog["batch"], len(batches)):
            idx = batches[b]
            mine = idx[rank::world]
            src, tgt_in, tgt_out = collate([data.train_src[i] for i in mine], [data.train_tgt[i] for i in mine],
                                           mcfg.bos_id, mcfg.eos_id, mcfg.pad_id, device)
            n_tokens = sum(tgt_lens[i] for i in idx)  # target tokens of the whole global batch
            lr = learning_rate(prog["step"] + 1, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, loss_sum = batch_loss(ddp_model, src, tgt_in, tgt_out, mcfg.pad_id, cfg.label_smoothing,
                                        n_tokens, world, cfg.bf16)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            optimizer.step()
            if ema:
                ema.update()
            prog["step"] += 1
            prog["batch"] = b + 1
            prog["tokens"] += n_tokens
            epoch_loss += loss_sum.item()
            step_losses.append(loss.item() / world)
            epoch_tokens += int((tgt_out != mcfg.pad_id).sum())
            prog["elapsed"] = time.time() - run_start
            tok_s = epoch_tokens * world / max(time.time() - epoch_start, 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{epoch_loss / max(epoch_tokens, 1):.3f}", tok_s=f"{tok_s:.0f}", step=prog["step"],
                            **({"left": f"{max(cfg.minutes - prog['elapsed'] / 60, 0):.0f}min"} if cfg.minutes else {}),
                            refresh=False)
            if _any_rank(_out_of_time(prog, cfg), device) or (cfg.max_steps and prog["step"] >= cfg.max_steps):
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
                v_nll = validation_loss(model, data, cfg)
                v_bleu = validation_bleu(model, tokenizer, data, cfg.valid_bleu_sentences, cfg.bf16) \
                    if cfg.valid_bleu_sentences else float("nan")
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
        if world > 1:
            dist.barrier()
        prog["elapsed"] = time.time() - run_start
        if _any_rank(_out_of_time(prog, cfg), device):
            stop = True
    return {"steps": prog["step"], "epochs": prog["epoch"], "minutes": prog["elapsed"] / 60,
            "parameters": n_params, "tokens": prog["tokens"], "step_losses": step_losses}


def plot_metrics(csv_file: Path, png: Path) -> None:
    """Loss and validation BLEU against training time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.read_csv(csv_file)
    if df.empty:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(df.minutes, df.train_loss, "o-", label="train (label-smoothed CE)")
    a.plot(df.minutes, df.valid_nll, "o-", label="validation NLL")
    a.set_xlabel("training minutes"); a.set_ylabel("loss per token"); a.legend(); a.grid(alpha=.3)
    b.plot(df.minutes, df.valid_bleu, "o-", color="C2")
    b.set_xlabel("training minutes"); b.set_ylabel("validation BLEU (greedy)"); b.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
