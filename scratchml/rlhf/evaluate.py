"""How good is a policy, and what did it cost? (``scratchml rlhf eval``)

On held-out prompts (IMDb *test* reviews), one continuation per prompt, sampled at temperature 1:

- ``positive_rate``: the share the ground-truth sentiment classifier calls positive (P > 1/2), on
  prompt + continuation, as a reader would see the review;
- ``mean_reward``: the reward model's mean (normalized: 0 is π_ref's average);
- ``kl``: KL(π ‖ π_ref) of a whole continuation, in nats, estimated as the mean over the samples of
  Σ_t log π(a_t) − log π_ref(a_t) — the quantity the KL penalty of PPO and the β of DPO trade
  reward against;
- ``ppl_ref``: the perplexity of the continuations under π_ref, exp of the mean negative log-likelihood
  per token: does the text still read like a review to the original model, or has it drifted into
  gibberish that the reward happens to like?
- ``distinct2``: distinct word bigrams over all word bigrams of the continuations (Li et al. 2016): a
  policy that found one phrase the reward loves and repeats it scores low.

Best-of-n draws n continuations from π_ref and keeps the one the reward model likes best. Its KL is
not estimated from samples but known exactly, log n − (n − 1)/n (Stiennon et al. 2020, appendix G.3;
Beirami et al. 2024 show it is an upper bound, tight for continuous rewards).
"""

import math

import numpy as np
import torch
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm import GPT
from scratchml.rlhf.reward import RewardModel
from scratchml.rlhf.rollout import Rollout, pack, response_logits, sample, token_logprobs
from scratchml.rlhf.sentiment import SentimentClassifier
from scratchml.transformer.precision import autocast


def best_of_n_kl(n: int) -> float:
    return math.log(n) - (n - 1) / n


def distinct_bigrams(texts: list[str]) -> float:
    bigrams = [(a, b) for t in texts for a, b in zip(t.split(), t.split()[1:])]
    return len(set(bigrams)) / max(1, len(bigrams))


@torch.no_grad()
def logprobs(model: GPT, rollout: Rollout, bf16: bool, batch_size: int = 64) -> list[torch.Tensor]:
    """Each continuation's token log-probabilities under ``model`` (temperature 1)."""
    out = []
    model.eval()
    for i in range(0, len(rollout.prompts), batch_size):
        packed = pack(rollout.prompts[i:i + batch_size], rollout.continuations[i:i + batch_size], model.cfg.eot_id)
        with autocast(packed.ids.device, bf16):
            logp = token_logprobs(response_logits(model, packed), packed)
        out += [row[:int(m.sum())] for row, m in zip(logp, packed.response)]
    return out


@torch.no_grad()
def sample_all(model: GPT, tokenizer: Tokenizer, prompts: list[list[int]], max_new_tokens: int, seed: int,
               batch_size: int = 64) -> Rollout:
    generator = torch.Generator().manual_seed(seed)
    parts = [sample(model, tokenizer, prompts[i:i + batch_size], max_new_tokens, generator=generator)
             for i in range(0, len(prompts), batch_size)]
    return Rollout([p for r in parts for p in r.prompts], [c for r in parts for c in r.continuations],
                   [t for r in parts for t in r.texts])


def draws_for_best_of_n(reference: GPT, tokenizer: Tokenizer, reward_model: RewardModel, prompts: list[list[int]],
                        n: int, max_new_tokens: int, seed: int,
                        progress: bool = False) -> tuple[list[Rollout], torch.Tensor]:
    """``n`` independent samples of π_ref for every prompt, and their rewards (n, N): best-of-k for
    every k ≤ n is then read off the first k draws, without sampling again."""
    if n < 1:
        raise ScratchMLError(f"n must be at least 1, got {n}")
    draws = [sample_all(reference, tokenizer, prompts, max_new_tokens, seed + k)
             for k in tqdm(range(n), desc="best-of-n draws", unit="draw", disable=not progress, dynamic_ncols=True)]
    return draws, torch.stack([reward_model.score(d.prompts, d.continuations) for d in draws])


def best_of(draws: list[Rollout], scores: torch.Tensor, n: int) -> Rollout:
    """For each prompt, the continuation with the highest reward among the first ``n`` draws."""
    best = scores[:n].argmax(0).tolist()
    return Rollout(list(draws[0].prompts), [draws[k].continuations[i] for i, k in enumerate(best)],
                   [draws[k].texts[i] for i, k in enumerate(best)])


def evaluate(rollout: Rollout, policy: GPT | None, reference: GPT, reward_model: RewardModel,
             classifier: SentimentClassifier, tokenizer: Tokenizer, bf16: bool, kl: float | None = None) -> dict:
    """The metrics of continuations already sampled from ``policy`` (``kl`` given instead when the
    samples come from a procedure with a known KL, as best-of-n)."""
    eot = reference.cfg.eot_id
    ref_logp = logprobs(reference, rollout, bf16)
    if kl is None:
        pol_logp = logprobs(policy, rollout, bf16)
        kl = float(np.mean([(p - r).sum().item() for p, r in zip(pol_logp, ref_logp)]))
    tokens = sum(len(r) for r in ref_logp)
    continuations = [tokenizer.decode([t for t in c if t != eot]) for c in rollout.continuations]
    return {"prompts": len(rollout.prompts),
            "positive_rate": float(np.mean(classifier.probability(rollout.texts) > 0.5)),
            "mean_reward": reward_model.score(rollout.prompts, rollout.continuations).mean().item(),
            "kl": kl,
            "ppl_ref": math.exp(-sum(r.sum().item() for r in ref_logp) / max(1, tokens)),
            "distinct2": distinct_bigrams(continuations),
            "mean_tokens": tokens / max(1, len(ref_logp))}
