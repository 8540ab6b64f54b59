"""Scaled dot-product attention and the masks it needs (Vaswani et al. 2017, section 3.2).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Masks are boolean and broadcast against the score matrix (B, H, T, S): True means "may attend",
the convention of ``torch.nn.functional.scaled_dot_product_attention``, which the tests compare to.
"""

import torch
import torch.nn.functional as F


def scaled_dot_product_attention(q, k, v, mask=None, dropout_p: float = 0.0):
    """q: (B, H, T, Dh), k and v: (B, H, S, Dh), mask: bool broadcastable to (B, H, T, S).

    Returns the output (B, H, T, Dh) and the attention weights (B, H, T, S).
    """
    scores = (q @ k.transpose(-2, -1)) * q.size(-1) ** -0.5  # (B, H, T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights.to(v.dtype) @ v, weights


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, S) token ids -> (B, 1, 1, S) mask that hides padding keys."""
    return (tokens != pad_id)[:, None, None, :]


def causal_mask(t: int, device=None) -> torch.Tensor:
    """(T, T) lower-triangular mask: position i sees positions <= i, never the future."""
    return torch.ones(t, t, dtype=torch.bool, device=device).tril()
