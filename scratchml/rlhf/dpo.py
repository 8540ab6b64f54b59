"""Direct Preference Optimization (Rafailov et al., NeurIPS 2023): the policy learns from the
preference pairs directly, with no reward model and no sampling during training.

The derivation in three lines. The KL-regularized objective max_π E[r(x, y)] − β KL(π ‖ π_ref) has
the closed-form optimum π*(y | x) ∝ π_ref(y | x) exp(r(x, y) / β). Solved for the reward,
r(x, y) = β log π*(y | x) / π_ref(y | x) + β log Z(x), and Z(x) cancels in the Bradley–Terry
difference r(x, y_w) − r(x, y_l). So the policy's own log-ratios *are* a reward model, and fitting
them to the preferences with the Bradley–Terry loss

    L = −log σ( β [ (log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x)) ] )

trains the policy that the RLHF objective would have produced. β plays the part of the KL
coefficient: small β lets the policy move far from π_ref, large β keeps it close.

log π(y | x) is the sum of the continuation's token log-probabilities (at temperature 1); π_ref's
are computed once before training, since π_ref never changes.
"""

import logging
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from scratchml.errors import ScratchMLError
from scratchml.files import refuse_fresh_start
from scratchml.llm import GPT, checkpoint as gpt_checkpoint
from scratchml.rlhf.card import rlhf_card
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.pair_training import train_on_pairs, with_dropout
from scratchml.rlhf.preferences import Pair
from scratchml.rlhf.rollout import pack, response_logits, token_logprobs
from scratchml.transformer.precision import autocast, use_bf16

log = logging.getLogger("scratchml.rlhf")


def dpo_loss(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair losses (B,) and the implicit rewards β log π/π_ref of the chosen and rejected (B,), (B,),
    from sequence log-probabilities (B,) of the policy and the reference."""
    chosen_reward = beta * (chosen - ref_chosen)
    rejected_reward = beta * (rejected - ref_rejected)
    return -F.logsigmoid(chosen_reward - rejected_reward), chosen_reward.detach(), rejected_reward.detach()


def sequence_logprobs(model: GPT, pairs: list[Pair], bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(y_w | x), log π(y_l | x), each (B,), in one forward pass over the 2B continuations."""
    sides = [p.chosen_rejected() for p in pairs]
    packed = pack([p.prompt_ids for p in pairs] * 2, [c for c, _ in sides] + [r for _, r in sides],
                  model.cfg.eot_id)
    with autocast(packed.ids.device, bf16):
        logits = response_logits(model, packed)
    logp = token_logprobs(logits, packed).sum(-1)  # (2B,)
    return logp[:len(pairs)], logp[len(pairs):]


@torch.no_grad()
def reference_logprobs(model: GPT, pairs: list[Pair], bf16: bool, batch_size: int = 64) -> None:
    """Store π_ref's log-probabilities on each pair (``ref_chosen``, ``ref_rejected``)."""
    model.eval()
    for i in range(0, len(pairs), batch_size):
        batch = pairs[i:i + batch_size]
        chosen, rejected = sequence_logprobs(model, batch, bf16)
        for p, c, r in zip(batch, chosen.tolist(), rejected.tolist()):
            p.ref_chosen, p.ref_rejected = c, r


def _refs(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor([p.ref_chosen for p in pairs]), torch.tensor([p.ref_rejected for p in pairs]))


def train_dpo(reference, train_pairs: list[Pair], valid_pairs: list[Pair], out, cfg: PairTraining, beta: float,
              resume: bool = False, progress: bool = True, commands: list[str] = (), stop_after: int = 0,
              bf16: bool | None = None) -> dict | None:
    """Train a policy from π_ref (the GPT folder ``reference``) into ``out`` (``out/checkpoint`` while
    training, ``out/model`` at the end: a GPT folder every ``scratchml llm`` command reads). Returns
    the final metrics, or None when ``stop_after`` ended the session first. ``commands``: the commands
    that made the pairs, then this one, for the model card (a resumed run adds only the last)."""
    if not beta > 0:
        raise ScratchMLError(f"beta must be positive, got {beta}")
    out = Path(out)
    ckpt = out / "checkpoint"
    device = torch.device("cpu")
    bf16 = use_bf16(device, bf16)
    ref, tokenizer, ref_meta = gpt_checkpoint.load(reference)
    log.info("log-probabilities of %d pairs under the reference", len(train_pairs) + len(valid_pairs))
    reference_logprobs(ref, train_pairs + valid_pairs, bf16)
    if resume:
        policy, _, meta = gpt_checkpoint.load(ckpt)
        saved = meta.get("dpo", {})
        if saved.get("beta") != beta:
            raise ScratchMLError(f"{ckpt} was trained with beta {saved.get('beta')}: resume with that")
        resumed = (gpt_checkpoint.load_train_state(ckpt), meta["progress"])
        commands = meta.get("commands", []) + list(commands[-1:])
    else:
        refuse_fresh_start(ckpt, "resume it with --resume")
        policy, resumed, commands = with_dropout(ref, cfg.dropout), None, list(commands)
        ref = None  # the reference's numbers are stored on the pairs; the policy starts as its copy

    def loss_fn(batch: list[Pair]):
        chosen, rejected = sequence_logprobs(policy, batch, bf16)
        losses, _, _ = dpo_loss(chosen, rejected, *_refs(batch), beta)
        return losses.mean(), {}

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        policy.eval()
        margins, losses = [], []
        for i in range(0, len(valid_pairs), 64):
            batch = valid_pairs[i:i + 64]
            loss, c, r = dpo_loss(*sequence_logprobs(policy, batch, bf16), *_refs(batch), beta)
            margins.append(c - r)
            losses.append(loss)
        margin = torch.cat(margins)
        return {"valid_loss": torch.cat(losses).mean().item(),
                "valid_reward_accuracy": (margin > 0).float().mean().item(), "valid_margin": margin.mean().item()}

    def meta_of(prog: dict) -> dict:
        return {"train": asdict(cfg), "progress": prog, "commands": commands, "dpo": {"beta": beta},
                "reference": str(reference), "reference_commands": ref_meta.get("commands", []),
                "pairs": {"train": len(train_pairs), "valid": len(valid_pairs)}}

    def save(path: Path, opt_state: dict, prog: dict) -> None:
        gpt_checkpoint.save(path, policy, tokenizer, meta_of(prog), opt_state)

    out.mkdir(parents=True, exist_ok=True)
    final = train_on_pairs(policy, train_pairs, loss_fn, cfg, out, save, evaluate, resumed, progress, stop_after)
    if final is None:
        return None
    final = final or evaluate()  # a resumed run that had already finished
    meta = {**meta_of({}), "metrics": final}
    gpt_checkpoint.save(out / "model", policy, tokenizer, meta, half=True,
                        extra_files={"README.md": rlhf_card("dpo", meta)})
    return final
