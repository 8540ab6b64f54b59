"""Train the reward model on preference pairs (``scratchml rlhf reward``).

The model starts as π_ref itself plus a fresh scalar head: the GPT already reads movie reviews, so
only a little of it must change to read their sentiment (Stiennon et al. 2020 start theirs from the
supervised policy for the same reason). Each step scores the chosen and the rejected continuation of
a batch of pairs in one forward pass and takes the Bradley–Terry loss of the differences.

Accuracy is measured on held-out pairs two ways: against the annotator's sampled labels (what the
model was trained to predict, noise included) and against the annotator's likelier answer
(P(a preferred) above or below one half), which no amount of label noise can make unreachable.
"""

import logging
from dataclasses import asdict
from pathlib import Path

import torch

from scratchml.files import refuse_fresh_start
from scratchml.llm import checkpoint as gpt_checkpoint
from scratchml.rlhf import reward
from scratchml.rlhf.card import rlhf_card
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.pair_training import train_on_pairs, with_dropout
from scratchml.rlhf.preferences import Pair
from scratchml.rlhf.reward import RewardModel, bradley_terry_loss
from scratchml.rlhf.rollout import pack
from scratchml.transformer.precision import autocast, use_bf16

log = logging.getLogger("scratchml.rlhf")


def chosen_and_rejected(model: RewardModel, pairs: list[Pair], bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw rewards (B,), (B,) of each pair's chosen and rejected continuation, in one forward pass."""
    sides = [p.chosen_rejected() for p in pairs]
    prompts = [p.prompt_ids for p in pairs] * 2
    packed = pack(prompts, [c for c, _ in sides] + [r for _, r in sides], model.gpt.cfg.eot_id)
    with autocast(packed.ids.device, bf16):
        r = model.raw(packed.ids, packed.mask).float()
    return r[:len(pairs)], r[len(pairs):]


@torch.no_grad()
def accuracy(model: RewardModel, pairs: list[Pair], bf16: bool, batch_size: int = 64) -> dict[str, float]:
    model.eval()
    right = likelier = 0
    for i in range(0, len(pairs), batch_size):
        batch = pairs[i:i + batch_size]
        chosen, rejected = chosen_and_rejected(model, batch, bf16)
        wins = (chosen > rejected).tolist()
        right += sum(wins)
        # the annotator's likelier answer: "a" when P(a) > 1/2
        likelier += sum(w == ((p.p_a > 0.5) == (p.choice == "a")) for w, p in zip(wins, batch) if p.p_a is not None)
    n_prob = sum(p.p_a is not None for p in pairs)
    out = {"valid_accuracy": right / len(pairs)}
    if n_prob:
        out["valid_accuracy_likelier"] = likelier / n_prob
    return out


def start_reward_model(reference, out: Path, cfg: PairTraining, commands: list[str], resume: bool, init=None):
    """(model, tokenizer, resumed, commands) of a training run into ``out``: its checkpoint when resuming,
    else ``init`` (a reward model folder) or π_ref with a fresh head, dropout set from ``cfg``.
    ``resumed`` is (train state, progress) or None; ``commands`` those for the model card."""
    ckpt = out / "checkpoint"
    if resume:
        model, tokenizer, meta = reward.load(ckpt)
        resumed = (gpt_checkpoint.load_train_state(ckpt), meta["progress"])
        return model, tokenizer, resumed, meta.get("commands", []) + list(commands[-1:])
    refuse_fresh_start(ckpt, "resume it with --resume")
    torch.manual_seed(cfg.seed)
    if init is None:
        gpt, tokenizer, _ = gpt_checkpoint.load(reference)
        model = RewardModel(with_dropout(gpt, cfg.dropout))
    else:  # a pre-trained reward model (reward_pretraining.py), its head included
        model, tokenizer, init_meta = reward.load(init)
        model.gpt = with_dropout(model.gpt, cfg.dropout)
        commands = [*init_meta.get("commands", []), *commands]
    return model, tokenizer, None, list(dict.fromkeys(commands))  # the pairs' command once


def train_reward_model(reference, train_pairs: list[Pair], valid_pairs: list[Pair], out, cfg: PairTraining,
                       resume: bool = False, progress: bool = True, commands: list[str] = (), stop_after: int = 0,
                       bf16: bool | None = None, init=None) -> dict | None:
    """Train into ``out`` (``out/checkpoint`` while training, ``out/model`` at the end); returns the
    final metrics, or None when ``stop_after`` ended the session first. ``commands``: the commands that
    made the pairs, then this one, for the model card (a resumed run adds only the last). ``init``: a
    reward model folder to start from instead of π_ref with a fresh head."""
    out = Path(out)
    model, tokenizer, resumed, commands = start_reward_model(reference, out, cfg, commands, resume, init)
    device = torch.device("cpu")
    bf16 = use_bf16(device, bf16)

    def loss_fn(batch: list[Pair]):
        chosen, rejected = chosen_and_rejected(model, batch, bf16)
        return bradley_terry_loss(chosen, rejected), {}

    reference_commands = gpt_checkpoint.read_meta(reference).get("commands", [])

    def meta_of(prog: dict) -> dict:
        return {"train": asdict(cfg), "progress": prog, "commands": commands, "reference": str(reference),
                "reference_commands": reference_commands,
                "pairs": {"train": len(train_pairs), "valid": len(valid_pairs)}}

    def save(path: Path, opt_state: dict, prog: dict) -> None:
        reward.save(path, model, tokenizer, meta_of(prog), train_state=opt_state)

    out.mkdir(parents=True, exist_ok=True)
    final = train_on_pairs(model, train_pairs, loss_fn, cfg, out, save,
                           lambda: accuracy(model, valid_pairs, bf16), resumed, progress, stop_after)
    if final is None:
        return None
    # both continuations of every training pair were sampled from π_ref: their rewards set the scale,
    # in float32 as ``RewardModel.score`` computes them
    with torch.no_grad():
        model.eval()
        raw = torch.cat([torch.cat(chosen_and_rejected(model, train_pairs[i:i + 64], bf16=False))
                         for i in range(0, min(len(train_pairs), 2048), 64)])
    model.normalize(raw)
    final = final or accuracy(model, valid_pairs, bf16)
    meta = {**meta_of({}), "metrics": final}
    reward.save(out / "model", model, tokenizer, meta, extra_files={"README.md": rlhf_card("reward", meta)})
    return final
