"""Sampled continuations and their log-probabilities: what PPO, DPO and the evaluation all start from.

A batch of prompts (left-padded, as generation wants them) followed by their continuations
(right-padded) is one tensor: every position's logits then come from a single forward pass, and the
log-probability of continuation token t is read at the position before it.

Log-probabilities are taken at the sampling temperature, log softmax(logits / T): the continuation
was drawn from that distribution, and PPO's importance ratio and KL penalty are only right against
the distribution that actually produced the tokens. Rollouts therefore sample plainly — no top-k, no
top-p, never greedy — so that this distribution is the policy's.

Shapes: B rows, P the longest prompt, R the longest continuation, T = P + R, V vocabulary.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scratchml.bpe import Tokenizer
from scratchml.llm import GPT, Sampling
from scratchml.llm.generate import generate


@dataclass
class Packed:
    ids: torch.Tensor       # (B, T) prompt (left-padded) then continuation (right-padded)
    mask: torch.Tensor      # (B, T) 1 on real tokens
    response: torch.Tensor  # (B, R) 1 on continuation tokens
    prompt_length: int      # P

    @property
    def targets(self) -> torch.Tensor:
        return self.ids[:, self.prompt_length:]  # (B, R)


def pack(prompts: list[list[int]], continuations: list[list[int]], pad_id: int) -> Packed:
    P, R = max(map(len, prompts)), max(1, max(map(len, continuations)))
    ids = torch.full((len(prompts), P + R), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, (p, c) in enumerate(zip(prompts, continuations)):
        ids[row, P - len(p):P] = torch.tensor(p)
        mask[row, P - len(p):P] = 1
        if c:
            ids[row, P:P + len(c)] = torch.tensor(c)
            mask[row, P:P + len(c)] = 1
    return Packed(ids, mask, mask[:, P:].clone(), P)


def response_logits(model: GPT, packed: Packed, temperature: float = 1.0) -> torch.Tensor:
    """Logits (B, R, V) that predicted each continuation token, divided by the temperature."""
    P = packed.prompt_length
    return model(packed.ids, packed.mask)[:, P - 1:-1].float() / temperature


def token_logprobs(logits: torch.Tensor, packed: Packed) -> torch.Tensor:
    """log p(token) (B, R) of each continuation token; 0 on padding."""
    logp = F.log_softmax(logits, dim=-1).gather(-1, packed.targets[..., None]).squeeze(-1)
    return logp * packed.response


def entropy(logits: torch.Tensor, packed: Packed) -> torch.Tensor:
    """Mean entropy (nats) of the distributions that drew the continuation tokens."""
    logp = F.log_softmax(logits, dim=-1)
    h = -(logp.exp() * logp).sum(-1)  # (B, R)
    return (h * packed.response).sum() / packed.response.sum().clamp(min=1)


@dataclass
class Rollout:
    prompts: list[list[int]]
    continuations: list[list[int]]   # new tokens, with the end-of-text token where the row chose to stop
    texts: list[str]                 # prompt + continuation, decoded, end-of-text left out

    def packed(self, pad_id: int) -> Packed:
        return pack(self.prompts, self.continuations, pad_id)


def sample(model: GPT, tokenizer: Tokenizer, prompts: list[list[int]], max_new_tokens: int,
           temperature: float = 1.0, generator: torch.Generator | None = None) -> Rollout:
    """One sampled continuation per prompt. ``generate`` stops a row at end-of-text and leaves the
    token out; here it is put back, since stopping was the policy's choice and has a probability."""
    eot = model.cfg.eot_id
    new = generate(model, prompts, max_new_tokens, Sampling(temperature=temperature), generator)
    continuations = [c + [eot] if len(c) < max_new_tokens else c for c in new]
    texts = [tokenizer.decode([t for t in p + c if t != eot]) for p, c in zip(prompts, new)]
    return Rollout(prompts, continuations, texts)
