"""Sinusoidal positional encodings (Vaswani et al. 2017, section 3.5).

Attention is blind to order: permuting the keys permutes nothing in the output. Adding a different
vector to each position's embedding gives the model the order back. With sines and cosines of
geometrically spaced wavelengths, PE[pos + k] is a linear function of PE[pos] for every offset k,
so relative positions are easy for attention to read.
"""

import math

import torch


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """(n, d) table: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe
