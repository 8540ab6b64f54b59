"""Transformer blocks: a residual stream that each sub-layer adds its output to.

Pre-LN blocks read it through a LayerNorm, x + f(LN(x)). That keeps the residual path free of
normalization, so gradients reach the first layers unscaled and training is stable without a long
warm-up (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture"); the translator
and GPT-2 use them. The original post-LN block (Vaswani et al. 2017) normalizes after the addition,
LN(x + f(x)), and needs that warm-up; BERT has it, so loading BERT's weights needs it too. Dropout on
each sub-layer's output is the "residual dropout" of Vaswani et al. (5.4).
"""

import torch.nn as nn

from scratchml.transformer.attention import MultiHeadAttention
from scratchml.transformer.cache import DecoderCache, KVCache
from scratchml.transformer.dropout import Dropout
from scratchml.transformer.feedforward import FeedForward


class Block(nn.Module):
    """Self-attention, then feed-forward. With a padding mask it is an encoder layer (Vaswani et al.,
    BERT); with a causal mask and a ``KVCache`` it is a decoder-only layer (GPT)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, activation: str = "relu", qkv_bias: bool = False):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=qkv_bias, dropout=attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.dropout = Dropout(dropout)

    def forward(self, x, mask, cache: KVCache | None = None):  # (B, T, C) -> (B, T, C)
        x = x + self.dropout(self.attn(self.ln1(x), mask, cache=cache))
        return x + self.dropout(self.ffn(self.ln2(x)))


class DecoderBlock(nn.Module):
    """The decoder layer of an encoder-decoder: causal self-attention over the output so far,
    cross-attention to the encoder output, then feed-forward (Vaswani et al. 2017, section 3.1)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, activation: str = "relu", qkv_bias: bool = False):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=qkv_bias, dropout=attention_dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, cross=True, bias=qkv_bias,
                                             dropout=attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.dropout = Dropout(dropout)

    def forward(self, x, memory, self_mask, memory_mask, cache: DecoderCache | None = None):
        """x (B, T, C), memory (B, S, C) -> (B, T, C)."""
        self_cache, cross_cache = (cache.self_attn, cache.cross_attn) if cache is not None else (None, None)
        x = x + self.dropout(self.self_attn(self.ln1(x), self_mask, cache=self_cache))
        x = x + self.dropout(self.cross_attn(self.ln2(x), memory_mask, memory=memory, cache=cross_cache))
        return x + self.dropout(self.ffn(self.ln3(x)))


class PostLNBlock(nn.Module):
    """The original encoder layer, LayerNorm after each residual addition: BERT's layer
    (Devlin et al. 2019) with ``activation="gelu"``, ``qkv_bias=True`` and ``eps=1e-12``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, activation: str = "relu", qkv_bias: bool = False,
                 eps: float = 1e-5):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model, eps=eps), nn.LayerNorm(d_model, eps=eps)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=qkv_bias, dropout=attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.dropout = Dropout(dropout)

    def forward(self, x, mask):  # (B, T, C) -> (B, T, C)
        x = self.ln1(x + self.dropout(self.attn(x, mask)))
        return self.ln2(x + self.dropout(self.ffn(x)))
