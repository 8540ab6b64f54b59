"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017), pre-LN.

Pre-LN (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture") puts the
LayerNorm before each sub-layer, inside the residual branch: x + f(LN(x)). It trains stably without a
long warm-up, which matters when the whole budget is an hour on a laptop CPU.

Shapes: B batch, S source length, T target length, C = d_model, H heads, Dh = C / H, V vocabulary.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchml.errors import ScratchMLError
from scratchml.translate.attention import causal_mask, padding_mask, scaled_dot_product_attention
from scratchml.translate.config import TransformerConfig
from scratchml.translate.dropout import Dropout


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """(n, d) table: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...) (eq. in 3.5)."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, H, T, Dh)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * Dh)  # (B, T, C)


class SelfAttention(nn.Module):
    """Multi-head self-attention; with a ``cache`` dict it appends this step's keys and values to
    those of earlier steps, so incremental decoding projects each token only once."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.attention_dropout
        # Q, K and V projections fused in one matmul. No bias: a key bias adds the same amount to
        # every score of a query, which the softmax ignores (its gradient is exactly zero).
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.weights = None  # last attention weights, kept only when ``keep_weights`` is set
        self.keep_weights = False

    def forward(self, x, mask, cache: dict | None = None):
        q, k, v = (_split_heads(t, self.n_heads) for t in self.qkv(x).chunk(3, dim=-1))
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)  # (B, H, past + T, Dh)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        y, w = scaled_dot_product_attention(q, k, v, mask, self.dropout if self.training else 0.0)
        if self.keep_weights:
            self.weights = w
        return self.proj(_merge_heads(y))


class CrossAttention(nn.Module):
    """Multi-head attention from decoder positions (queries) to the encoder output (keys, values).
    The encoder output does not change while decoding, so its projections are cached once."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.attention_dropout
        self.q = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.kv = nn.Linear(cfg.d_model, 2 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.weights = None
        self.keep_weights = False

    def forward(self, x, memory, mask, cache: dict | None = None):
        q = _split_heads(self.q(x), self.n_heads)
        if cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = (_split_heads(t, self.n_heads) for t in self.kv(memory).chunk(2, dim=-1))
            if cache is not None:
                cache["k"], cache["v"] = k, v
        y, w = scaled_dot_product_attention(q, k, v, mask, self.dropout if self.training else 0.0)
        if self.keep_weights:
            self.weights = w
        return self.proj(_merge_heads(y))


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W1 + b1) W2 + b2, applied to each position separately (section 3.3)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x):
        return self.down(F.relu(self.up(x)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ffn = FeedForward(cfg)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x, src_mask):
        x = x + self.dropout(self.attn(self.ln1(x), src_mask))
        return x + self.dropout(self.ffn(self.ln2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.self_attn = SelfAttention(cfg)
        self.cross_attn = CrossAttention(cfg)
        self.ffn = FeedForward(cfg)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x, memory, self_mask, src_mask, cache: dict | None = None):
        self_cache = cross_cache = None
        if cache is not None:
            self_cache, cross_cache = cache.setdefault("self", {}), cache.setdefault("cross", {})
        x = x + self.dropout(self.self_attn(self.ln1(x), self_mask, self_cache))
        x = x + self.dropout(self.cross_attn(self.ln2(x), memory, src_mask, cross_cache))
        return x + self.dropout(self.ffn(self.ln3(x)))


class Transformer(nn.Module):
    """Encoder-decoder with one embedding matrix shared by source, target and output projection
    (Press & Wolf 2017, "Using the Output Embedding to Improve Language Models")."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.register_buffer("pe", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        self.dropout = Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))
        self.ln_enc, self.ln_dec = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self._init_weights()

    def _init_weights(self):
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2 and name != "embed.weight":
                nn.init.xavier_uniform_(p)
        # N(0, 1/C): after the sqrt(C) scale below, input embeddings have unit variance.
        nn.init.normal_(self.embed.weight, std=self.cfg.d_model ** -0.5)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        T = tokens.size(1)
        if start + T > self.cfg.max_len:
            raise ScratchMLError(f"sequence of {start + T} tokens exceeds max_len={self.cfg.max_len}")
        x = self.embed(tokens) * math.sqrt(self.cfg.d_model) + self.pe[start:start + T]  # (B, T, C)
        return self.dropout(x)

    def encode(self, src: torch.Tensor):
        """src (B, S) -> memory (B, S, C) and the source padding mask (B, 1, 1, S)."""
        src_mask = padding_mask(src, self.cfg.pad_id)
        x = self._embed(src)
        for layer in self.encoder:
            x = layer(x, src_mask)
        return self.ln_enc(x), src_mask

    def decode(self, tgt_in, memory, src_mask, cache: list[dict] | None = None, start: int = 0,
               select: torch.Tensor | None = None):
        """tgt_in (B, T) -> logits (B, T, V). With ``cache`` (one dict per layer), ``tgt_in`` holds
        only the new tokens, at positions ``start`` .. ``start + T - 1``. With a boolean ``select``
        (B, T), only those positions are projected: logits (N, V) — training skips the padding."""
        T = tgt_in.size(1)
        # Causal mask over all start + T keys; row i belongs to absolute position start + i.
        self_mask = causal_mask(start + T, tgt_in.device)[start:]
        x = self._embed(tgt_in, start)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory, self_mask, src_mask, None if cache is None else cache[i])
        x = self.ln_dec(x)
        if select is not None:
            x = x[select]  # (N, C)
        return F.linear(x, self.embed.weight)  # tied output projection, (B, T, V) or (N, V)

    def forward(self, src, tgt_in, select: torch.Tensor | None = None):
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask, select=select)

    def new_cache(self) -> list[dict]:
        return [{} for _ in self.decoder]

    def keep_attention_weights(self, keep: bool = True) -> None:
        for layer in self.decoder:
            layer.cross_attn.keep_weights = keep
