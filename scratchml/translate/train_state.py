"""The training state a checkpoint holds beside the model, so that a run resumes exactly: the
optimizer's moments, the random number generators, the progress counters, the raw training weights
(when the model file holds their moving average) and the stages (the settings of each stretch of
training, for the model card). Everything is a tensor in safetensors: no pickle."""

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import resolve
from scratchml.training import load_optimizer, optimizer_tensors
from scratchml.translate import checkpoint
from scratchml.translate.config import TrainConfig


@dataclass
class Resumed:
    meta: dict                      # config.json of the checkpoint
    tokenizer: Tokenizer
    state: dict[str, torch.Tensor]  # train_state.safetensors


def read_for_resume(ckpt_dir: Path, cfg: TrainConfig) -> Resumed:
    """The checkpoint in ``ckpt_dir``, checked to be a training checkpoint of the same run."""
    meta = checkpoint.read_meta(ckpt_dir)
    if not (resolve(ckpt_dir) / "train_state.safetensors").exists():
        raise ScratchMLError(f"{ckpt_dir} has no train_state.safetensors: an exported model, "
                             f"not a training checkpoint, cannot be resumed")
    if not isinstance(meta.get("train"), dict) or not isinstance(meta.get("progress"), dict):
        raise ScratchMLError(f"{ckpt_dir}/config.json lacks the training settings: the checkpoint is corrupt")
    saved = TrainConfig.from_dict(meta["train"])
    if (saved.size, saved.vocab_size, saved.seed) != (cfg.size, cfg.vocab_size, cfg.seed):
        raise ScratchMLError(f"{ckpt_dir} was trained with size={saved.size} vocab_size={saved.vocab_size} "
                             f"seed={saved.seed}; resume with the same settings")
    _, tokenizer, _ = checkpoint.load_model_dir(ckpt_dir)
    return Resumed(meta, tokenizer, checkpoint.load_train_state(ckpt_dir))


def pack_state(optimizer: torch.optim.Optimizer, progress: dict, raw: dict[str, torch.Tensor],
               device: torch.device) -> dict[str, torch.Tensor]:
    """Optimizer moments, RNG, progress and (with EMA on) the raw training weights."""
    state = {"rng.torch": torch.get_rng_state()}
    if device.type == "cuda":                               # dropout on the GPU draws from its own RNG
        state["rng.cuda"] = torch.cuda.get_rng_state(device)
    state.update({f"raw.{k}": v.detach().clone() for k, v in raw.items()})
    state.update(optimizer_tensors(optimizer, prefix="opt."))
    state["progress"] = torch.tensor([progress["step"], progress["epoch"], progress["batch"]])
    return state


def restore_raw_weights(model: torch.nn.Module, resumed: Resumed, ema_on: bool, ckpt_dir: Path) -> None:
    """With EMA on, the checkpoint's model file holds the average: put the raw weights back."""
    raw = {k[4:]: v for k, v in resumed.state.items() if k.startswith("raw.")}
    if ema_on and not raw:
        raise ScratchMLError(f"{ckpt_dir} was trained without a moving average; resume with ema_decay=0")
    if raw and not ema_on:
        raise ScratchMLError(f"{ckpt_dir} was trained with a moving average; resume with "
                             f"ema_decay={resumed.meta['train']['ema_decay']}")
    model.load_state_dict(raw, strict=False)


def unpack_state(optimizer: torch.optim.Optimizer, state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in state:
        torch.cuda.set_rng_state(state["rng.cuda"], device)
    load_optimizer(optimizer, state, prefix="opt.")


def record_stage(stages: list[dict], stage: dict) -> None:
    """Append this session's settings when they differ from the last stage's (a new stage);
    a last stage that took no step is replaced."""
    last = stages[-1] if stages else None
    if last and last["from_step"] == stage["from_step"]:
        stages[-1] = {**stage, **({"init": last["init"]} if "init" in last else {})}
    elif not last or (asdict(TrainConfig.from_dict(last["train"])), last.get("processes", stage["processes"]),
                      last.get("device", stage["device"])) != (stage["train"], stage["processes"], stage["device"]):
        stages.append(stage)
