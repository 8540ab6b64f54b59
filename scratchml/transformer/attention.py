"""Scaled dot-product and multi-head attention (Vaswani et al. 2017, sections 3.2.1-3.2.2).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Each query position takes a weighted average of the value vectors; the weights say how well its
query matches each key. Dividing by sqrt(d_k) keeps the scores' variance near 1 whatever the head
width, so the softmax does not saturate. Multi-head attention runs H such attentions side by side
on C / H-wide slices of the model width, so that each head can look for something else.

One module covers the three uses of a Transformer:
- self-attention: queries, keys and values all come from ``x`` (an encoder; BERT);
- causal self-attention: the same with ``causal_mask`` (a decoder; GPT), and a ``KVCache``;
- cross-attention: queries from ``x``, keys and values from the encoder output ``memory``.

Shapes: B batch, T query positions, S key positions, C = d_model, H heads, Dh = C / H.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchml.transformer.cache import KVCache


def scaled_dot_product_attention(q, k, v, mask=None, dropout_p: float = 0.0):
    """q: (B, H, T, Dh), k and v: (B, H, S, Dh), mask: bool broadcastable to (B, H, T, S), True
    where a query may attend. Returns the output (B, H, T, Dh) and the weights (B, H, T, S)."""
    # The scores are the largest tensor of the layer (T x S per head), so each pass over them counts:
    # scale the queries instead (the same numbers when Dh is a power of two), and mask by adding 0 or
    # -inf in place.
    scores = (q * q.size(-1) ** -0.5) @ k.transpose(-2, -1)  # (B, H, T, S)
    if mask is not None:
        scores += torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device).masked_fill_(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights.to(v.dtype) @ v, weights


def attention_in_slices(q, k, v, mask=None, max_scores: int = 1 << 20) -> torch.Tensor:
    """The output of ``scaled_dot_product_attention`` (no dropout), a few batch rows at a time: the
    same, bit for bit. A big batch of long sequences has a big score tensor (32 texts of 256 tokens,
    12 heads: 100 MB), and moving it through memory costs more than the arithmetic; slices of at most
    ``max_scores`` scores (4 MB in float32) stay in the CPU's cache. Attention weights are not kept."""
    B, H, T, S = q.size(0), q.size(1), q.size(2), k.size(2)
    rows = max(1, max_scores // (H * T * S))
    if rows >= B:
        return scaled_dot_product_attention(q, k, v, mask)[0]
    per_row = mask is not None and mask.dim() == 4 and mask.size(0) == B  # else it broadcasts over rows
    masks = mask.split(rows) if per_row else [mask] * len(range(0, B, rows))
    # split, not indexing: autograd joins the slices' gradients with one concatenation, where each
    # indexed slice would write its gradient into a zero tensor of the full size
    return torch.cat([scaled_dot_product_attention(qi, ki, vi, mi)[0]
                      for qi, ki, vi, mi in zip(q.split(rows), k.split(rows), v.split(rows), masks)])


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, H, T, Dh)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * Dh)  # (B, T, C)


class MultiHeadAttention(nn.Module):
    """Multi-head attention. Self-attention projects Q, K and V with one fused matrix ``qkv``;
    cross-attention projects the queries (``q``) and the memory's keys and values (``kv``)
    separately, because they come from different sequences.

    ``bias``: biases on the Q/K/V projections. The translator has none: a key bias adds the same
    amount to every score of a query, which the softmax ignores. BERT and GPT-2 have them.
    """

    def __init__(self, d_model: int, n_heads: int, cross: bool = False, bias: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.cross, self.dropout = n_heads, cross, dropout
        if cross:
            self.q = nn.Linear(d_model, d_model, bias=bias)
            self.kv = nn.Linear(d_model, 2 * d_model, bias=bias)
        else:
            self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model)
        self.keep_weights = False  # keep the last attention weights in ``weights`` (for plots)
        self.weights: torch.Tensor | None = None

    def forward(self, x, mask=None, memory=None, cache: KVCache | None = None):
        """x (B, T, C) -> (B, T, C). ``memory`` (B, S, C): the encoder output (cross-attention).

        With a ``cache``, self-attention appends this step's keys and values to the earlier ones;
        cross-attention projects ``memory`` on the first call only and reuses it after.
        """
        if self.cross:
            q = split_heads(self.q(x), self.n_heads)
            if cache is not None and cache.k is not None:
                k, v = cache.k, cache.v
            else:
                k, v = (split_heads(t, self.n_heads) for t in self.kv(memory).chunk(2, dim=-1))
                if cache is not None:
                    cache.append(k, v)
        else:
            q, k, v = (split_heads(t, self.n_heads) for t in self.qkv(x).chunk(3, dim=-1))
            if cache is not None:
                k, v = cache.append(k, v)  # (B, H, past + T, Dh)
        dropout = self.dropout if self.training else 0.0
        if dropout > 0.0 or self.keep_weights:
            y, w = scaled_dot_product_attention(q, k, v, mask, dropout)
            if self.keep_weights:
                self.weights = w
        else:
            y = attention_in_slices(q, k, v, mask)
        return self.proj(merge_heads(y))
