"""Preference-model pre-training (``scratchml rlhf reward-pretrain``): teach the reward model what the
judgments are about before it sees a single comparison.

Comparisons are expensive (a person, or here the annotator, reads two texts for one bit), and a reward
model learning from a few thousand of them must discover from scratch that they are about sentiment.
Askell et al. (2021, "A General Language Assistant as a Laboratory for Alignment", section 4) train
their preference models first on plentiful public data with a similar signal, then fine-tune on the
human comparisons, and find that the fine-tuning needs far fewer of them. The public data here are
IMDb's labelled training reviews: the opening of a review (16 to 56 tokens, the length of a prompt and
its continuation) should score above 0 when the review is positive and below 0 when it is negative,

    L = −log σ(r(x))  for a positive review,  −log σ(−r(x))  for a negative one,

the Bradley–Terry loss against a fixed opponent of reward 0. ``scratchml rlhf reward --init`` then
starts from this model instead of π_ref with a fresh head.

The reviews whose openings became the held-out preference pairs' prompts are left out, so the held-out
pairs stay unseen in every way; the pairs judge π_ref's continuations, which no review contains anyway.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm import checkpoint as gpt_checkpoint
from scratchml.llm.imdb import reviews
from scratchml.rlhf import reward
from scratchml.rlhf.card import rlhf_card
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.pair_training import train_on_pairs
from scratchml.rlhf.preferences import Pair
from scratchml.rlhf.reward import RewardModel
from scratchml.rlhf.reward_training import start_reward_model
from scratchml.rlhf.rollout import pack
from scratchml.transformer.precision import autocast, use_bf16

MIN_TOKENS, MAX_TOKENS = 16, 56


@dataclass
class Opening:
    ids: list[int]      # the review's first k tokens (no end-of-text)
    positive: bool


def review_openings(tokenizer: Tokenizer, held_out: list[Pair], valid: int = 1_000, seed: int = 0,
                    rows=None) -> tuple[list[Opening], list[Opening], int]:
    """(training openings, validation openings, reviews left out) from IMDb's labelled training reviews,
    leaving out every review that opens with the prompt of a held-out pair."""
    rows = reviews("train") if rows is None else rows
    prompts = {tuple(p.prompt_ids[1:]) for p in held_out}
    lengths = {len(p) for p in prompts}
    rng = np.random.default_rng(seed)
    out, left_out = [], 0
    for i in rng.permutation(len(rows)):
        # a few hundred characters hold 56 tokens: no need to encode the whole review
        ids = tokenizer.encode(rows[i].text[:600], allow_special=False)
        if any(tuple(ids[:n]) in prompts for n in lengths):
            left_out += 1
            continue
        k = int(rng.integers(MIN_TOKENS, MAX_TOKENS + 1))
        if ids[:k]:
            out.append(Opening(ids[:k], rows[i].label == 1))
    if len(out) <= valid:
        raise ScratchMLError(f"{len(out)} reviews: too few to hold {valid} out for validation")
    return out[valid:], out[:valid], left_out


def opening_rewards(model: RewardModel, batch: list[Opening], eot: int, bf16: bool) -> torch.Tensor:
    """Raw rewards (B,) of review openings, each read after the end-of-text token as prompts are."""
    packed = pack([[eot]] * len(batch), [o.ids for o in batch], eot)
    with autocast(packed.ids.device, bf16):
        return model.raw(packed.ids, packed.mask).float()


def pretrain_reward_model(reference, train: list[Opening], valid: list[Opening], out, cfg: PairTraining,
                          resume: bool = False, progress: bool = True, commands: list[str] = (),
                          stop_after: int = 0, bf16: bool | None = None) -> dict | None:
    """Train π_ref plus a fresh scalar head on review openings into ``out`` (``out/model`` at the end, a
    reward model folder); returns the final metrics, or None when ``stop_after`` ended the session."""
    out = Path(out)
    model, tokenizer, resumed, commands = start_reward_model(reference, out, cfg, commands, resume)
    eot = model.gpt.cfg.eot_id
    bf16 = use_bf16(torch.device("cpu"), bf16)
    reference_commands = gpt_checkpoint.read_meta(reference).get("commands", [])

    def loss_fn(batch: list[Opening]):
        r = opening_rewards(model, batch, eot, bf16)
        return F.binary_cross_entropy_with_logits(r, torch.tensor([o.positive for o in batch], dtype=r.dtype)), {}

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        model.eval()
        right = sum(((opening_rewards(model, valid[i:i + 64], eot, bf16) > 0) ==
                     torch.tensor([o.positive for o in valid[i:i + 64]])).sum().item()
                    for i in range(0, len(valid), 64))
        return {"valid_accuracy": right / len(valid)}

    def meta_of(prog: dict) -> dict:
        return {"train": asdict(cfg), "progress": prog, "commands": commands, "reference": str(reference),
                "reference_commands": reference_commands, "openings": {"train": len(train), "valid": len(valid)}}

    def save(path: Path, state: dict, prog: dict) -> None:
        reward.save(path, model, tokenizer, meta_of(prog), train_state=state)

    out.mkdir(parents=True, exist_ok=True)
    final = train_on_pairs(model, train, loss_fn, cfg, out, save, evaluate, resumed, progress, stop_after)
    if final is None:
        return None
    meta = {**meta_of({}), "metrics": final}
    reward.save(out / "model", model, tokenizer, meta, extra_files={"README.md": rlhf_card("reward-pretrain", meta)},
                half=False)  # float32: it is trained on
    return final
