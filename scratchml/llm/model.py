"""A GPT: a decoder-only Transformer language model (Radford et al. 2018, 2019: GPT, GPT-2).

It reads a sequence of tokens and, at every position t, predicts the next token from tokens 0..t.
That one objective on raw text, nothing else, is how it learns the language.

The shape is GPT-2's, assembled from the shared blocks of ``scratchml.transformer``:

- input: a learned embedding of each token plus a learned embedding of its position (0 .. context - 1);
- N pre-LN blocks x + attn(LN(x)), x + MLP(LN(x)): causal self-attention (position t sees 0..t, never
  the future) with biases on every projection, and a GELU MLP 4 times wider than the model (GPT-2's
  tanh approximation of GELU);
- a final LayerNorm, then the logits: dot products with the token embeddings themselves ("weight
  tying", Press & Wolf 2017): the output layer needs no matrix of its own.

Initialization follows GPT-2: weights N(0, 0.02), and the two projections that write into the residual
stream of each block scaled by 1/sqrt(2N), so that the stream's variance does not grow with depth.

Positions of a batch of prompts of different lengths: prompts are padded on the left, and each real
token's position counts only the real tokens before it (``positions_of``), so a prompt gets the same
positions, and the same next-token distribution (up to float rounding), alone or in a batch.

Shapes: B batch, T new positions, S = past + T key positions, C = d_model, V vocabulary.
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchml.transformer import Block, Dropout, KVCache, StaticKVCache


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 8192
    context: int = 256         # positions: the longest sequence it reads
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 6
    dropout: float = 0.0       # on the embeddings, the attention weights and each block's outputs
    activation: str = "gelu_tanh"  # GPT-2's; "gelu" (exact) is another model, e.g. one imported from elsewhere
    eot_id: int = 8191         # end of text: separates documents; generation and scoring start from it

    @property
    def d_ff(self) -> int:
        return 4 * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)


def positions_of(attention_mask: torch.Tensor) -> torch.Tensor:
    """attention_mask (B, S), 1 = token, 0 = left padding -> each token's position (B, S): the number
    of real tokens before it (0 on the padding)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def attention_mask_for(t: int, attention_mask: torch.Tensor | None, past: int, device,
                       width: int | None = None) -> torch.Tensor:
    """Which keys each of the T newest queries may see: (T, S) causal, or (B, 1, T, S) when some keys
    are padding. Every query also sees itself, so that a padding query (whose output nobody reads)
    never has all its scores at -inf, which would make NaNs. ``width``: the keys a
    ``StaticKVCache`` returns (its capacity), of which only the first past + T are written; the
    causal mask already hides the others."""
    s = width or past + t
    causal = torch.ones(t, s, dtype=torch.bool, device=device).tril(diagonal=past)  # (T, S)
    if attention_mask is None:
        return causal
    itself = torch.zeros(t, s, dtype=torch.bool, device=device)
    itself[torch.arange(t), torch.arange(past, past + t)] = True
    keys = F.pad(attention_mask.bool(), (0, s - attention_mask.size(1)))[:, None, None, :]  # (B, 1, 1, S)
    return (causal & keys) | itself


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.context, cfg.d_model)
        self.dropout = Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            Block(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.dropout, cfg.activation, qkv_bias=True)
            for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "ffn.down.weight")):  # they write into the residual stream
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, static: bool = False) -> list[KVCache]:
        """One key/value cache per layer; ``static``: preallocated for the whole context
        (``StaticKVCache``), else growing with every step."""
        if static:
            return [StaticKVCache(self.cfg.context) for _ in self.layers]
        return [KVCache() for _ in self.layers]

    def hidden(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               cache: list[KVCache] | None = None) -> torch.Tensor:
        """ids (B, T) -> the final LayerNorm's output (B, T, C): what the output layer reads, and the
        scalar heads of a reward or value model built on this GPT. Arguments as in ``forward``."""
        B, T = ids.shape
        past = len(cache[0]) if cache else 0
        if past + T > self.cfg.context:
            raise ValueError(f"{past + T} positions: this model reads at most {self.cfg.context}")
        if attention_mask is None:
            pos = torch.arange(past, past + T, device=ids.device)  # (T,)
        else:
            pos = positions_of(attention_mask)[:, past:]  # (B, T)
        width = cache[0].capacity if cache and isinstance(cache[0], StaticKVCache) else None
        mask = attention_mask_for(T, attention_mask, past, ids.device, width)
        x = self.dropout(self.tokens(ids) + self.positions(pos))  # (B, T, C)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, cache=cache[i] if cache else None)
        return self.ln(x)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: list[KVCache] | None = None, last_only: bool = False) -> torch.Tensor:
        """ids (B, T) -> logits (B, T, V) of the token after each position; (B, 1, V) of the last
        position only with ``last_only`` (generation: the others would cost B x T x V floats for nothing).

        ``attention_mask`` (B, S): 1 on tokens, 0 on left padding, over the cached positions and
        these T (None: no padding). ``cache``: the keys and values of the earlier positions, which
        this call extends by T."""
        x = self.hidden(ids, attention_mask, cache)  # (B, T, C)
        if last_only:
            x = x[:, -1:]  # (B, 1, C)
        return self.logits(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., C) -> logits (..., V): dot products with the token embeddings (tied)."""
        # F.linear on the parameter itself, not x @ weight.T: autocast keeps its bfloat16 copy of a
        # parameter for the whole autocast region, but converts a view such as weight.T anew at every
        # call, which in generation is a 3 M-number conversion for every token.
        return F.linear(x, self.tokens.weight)
