"""Attention masks. Boolean, broadcast against the score matrix (B, H, T, S): True means "may
attend", the convention of ``torch.nn.functional.scaled_dot_product_attention``."""

import torch


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, S) token ids -> (B, 1, 1, S) mask that hides padding keys."""
    return (tokens != pad_id)[:, None, None, :]


def causal_mask(t: int, device=None) -> torch.Tensor:
    """(T, T) lower-triangular mask: position i sees positions <= i, never the future."""
    return torch.ones(t, t, dtype=torch.bool, device=device).tril()
