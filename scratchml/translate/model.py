"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017), pre-LN,
assembled from the shared blocks of ``scratchml.transformer``.

Shapes: B batch, S source length, T target length, C = d_model, V vocabulary.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchml.errors import ScratchMLError
from scratchml.transformer import Block, DecoderBlock, DecoderCache, Dropout, causal_mask, padding_mask
from scratchml.transformer.positions import sinusoidal_positions
from scratchml.translate.config import TransformerConfig


class Transformer(nn.Module):
    """Encoder-decoder with one embedding matrix shared by source, target and output projection
    (Press & Wolf 2017, "Using the Output Embedding to Improve Language Models")."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.register_buffer("pe", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        self.dropout = Dropout(cfg.dropout)
        sizes = dict(d_model=cfg.d_model, n_heads=cfg.n_heads, d_ff=cfg.d_ff, dropout=cfg.dropout,
                     attention_dropout=cfg.attention_dropout)
        self.encoder = nn.ModuleList(Block(**sizes) for _ in range(cfg.n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(**sizes) for _ in range(cfg.n_decoder_layers))
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

    def decode(self, tgt_in, memory, src_mask, cache: list[DecoderCache] | None = None, start: int = 0,
               select: torch.Tensor | None = None):
        """tgt_in (B, T) -> logits (B, T, V). With ``cache`` (``new_cache``), ``tgt_in`` holds
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

    def new_cache(self) -> list[DecoderCache]:
        return [DecoderCache() for _ in self.decoder]

    def keep_attention_weights(self, keep: bool = True) -> None:
        for layer in self.decoder:
            layer.cross_attn.keep_weights = keep
