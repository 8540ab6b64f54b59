"""Text from a language model: sample one token at a time, append it, repeat.

Each step turns the logits of the last position into a distribution and draws from it:

- temperature T: softmax(logits / T); below 1 sharpens it (safer, more repetitive text), above 1
  flattens it;
- top-k: only the k likeliest tokens keep their probability (Fan et al. 2018);
- top-p ("nucleus", Holtzman et al. 2020): only the smallest set of likeliest tokens whose total
  probability reaches p;
- greedy: always the likeliest token (deterministic, and prone to loops).

A key/value cache (``scratchml.transformer.KVCache``) makes each step cost one position instead of
the whole sequence: the prompt is run once, then every step feeds only the newest token. Prompts of
different lengths share a batch by padding on the left, so that every row's newest token sits in the
same last column; the attention mask hides the padding and the positions count real tokens only
(model.py), so a prompt continues the same way alone or in a batch (up to float rounding: the
tests check identical tokens in float64, where rounding cannot tip a choice).

A row stops at the end-of-text token (it is not part of the returned text) or after
``max_new_tokens``; the batch stops when every row has.

Shapes: B prompts, L the longest prompt, V vocabulary.
"""

from dataclasses import dataclass
from typing import Callable

import torch

from scratchml.errors import ScratchMLError
from scratchml.llm.model import GPT
from scratchml.transformer.precision import autocast


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_k: int = 0        # 0: off
    top_p: float = 1.0    # 1.0: off
    greedy: bool = False

    def check(self) -> None:
        if not self.greedy and not self.temperature > 0:
            raise ScratchMLError(f"temperature must be above 0 when sampling, got {self.temperature} "
                                 "(for the likeliest token every time, use greedy decoding)")
        if self.top_k < 0:
            raise ScratchMLError(f"top-k must be 0 (off) or positive, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ScratchMLError(f"top-p must be in (0, 1], got {self.top_p}")


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """logits (B, V) with the tokens outside the top k and outside the nucleus p set to -inf."""
    if top_k and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the likelier ones before it already reach p: the first token always stays
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_tokens(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """logits (B, V) of the last position -> one token per row (B,)."""
    if sampling.greedy:
        return logits.argmax(-1)
    logits = logits.float()
    # subtracting the maximum first keeps a tiny temperature from overflowing to inf (and the softmax to NaN)
    logits = (logits - logits.max(-1, keepdim=True).values) / sampling.temperature
    logits = filter_logits(logits, sampling.top_k, sampling.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


def left_padded(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts -> ids (B, L) padded on the left, attention mask (B, L): 1 on tokens."""
    length = max(map(len, prompts))
    ids = torch.full((len(prompts), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), length), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, length - len(prompt):] = torch.tensor(prompt)
            mask[row, length - len(prompt):] = 1
    return ids.to(device), mask.to(device)


def generate(model: GPT, prompts: list[list[int]], max_new_tokens: int, sampling: Sampling = Sampling(),
             generator: torch.Generator | None = None, use_cache: bool = True,
             on_token: Callable[[int, int], None] | None = None, bf16: bool = False) -> list[list[int]]:
    """Continue each prompt (token ids; each must be non-empty: start it with the end-of-text token
    for text from scratch) by up to ``max_new_tokens`` tokens; returns the new tokens of each.
    ``on_token(row, token)`` is called for each new token as it comes (streaming). Without the cache
    every step runs the whole sequence again: the same computation, slower (for tests and benchmarks;
    the floating-point sums run in another order, so a near-tie between two tokens could tip).
    ``bf16``: matrix products in bfloat16 (``scratchml.transformer.precision``)."""
    sampling.check()
    if not prompts or not all(prompts):
        raise ScratchMLError("every prompt needs at least one token (the end-of-text token starts a text)")
    if max_new_tokens < 1:
        raise ScratchMLError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    longest = max(map(len, prompts))
    if longest + max_new_tokens > model.cfg.context:
        raise ScratchMLError(f"{longest} prompt tokens + {max_new_tokens} new ones exceed the model's context of "
                             f"{model.cfg.context} tokens")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # no dropout while generating
    # no_grad rather than inference_mode: autocast keeps its bfloat16 copy of each weight for the
    # whole call only outside inference mode. Inside, it would convert every weight again at every
    # step, and for one new token per step that conversion costs more than the products themselves.
    try:
        with torch.no_grad(), autocast(device, bf16):
            return _generate(model, prompts, max_new_tokens, sampling, generator, use_cache, on_token, bf16)
    finally:
        model.train(was_training)


def _generate(model, prompts, max_new_tokens, sampling, generator, use_cache, on_token, bf16):
    """The decoding loop of ``generate``, which checked the arguments."""
    device = next(model.parameters()).device
    eot = model.cfg.eot_id
    ids, mask = left_padded(prompts, eot, device)
    # bfloat16 gets the preallocated cache, whose shapes do not change from step to step (see
    # StaticKVCache); float32 keeps the growing one, whose sums run over exactly the positions so far
    cache = model.new_cache(static=bf16) if use_cache else None
    logits = model(ids, mask, cache, last_only=True)[:, -1]  # (B, V)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    out: list[list[int]] = [[] for _ in prompts]
    for _ in range(max_new_tokens):
        token = next_tokens(logits, sampling, generator)  # (B,)
        token = token.masked_fill(done, eot)
        for row in (~done).nonzero().flatten().tolist():
            if token[row].item() != eot:
                out[row].append(token[row].item())
                if on_token:
                    on_token(row, token[row].item())
        done |= token == eot
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, S + 1)
        if use_cache:
            logits = model(token[:, None], mask, cache, last_only=True)[:, -1]
        else:
            ids = torch.cat([ids, token[:, None]], dim=1)
            logits = model(ids, mask, last_only=True)[:, -1]
    return out
