"""Transformer building blocks shared by every model of scratchml: attention (self, cross, causal),
masks, positional encodings, the feed-forward network, pre-LN and post-LN blocks, key/value caches,
dropout, and the choice of precision. Models assemble these; none writes its own attention."""

from scratchml.transformer.attention import MultiHeadAttention, scaled_dot_product_attention
from scratchml.transformer.blocks import Block, DecoderBlock, PostLNBlock
from scratchml.transformer.cache import DecoderCache, KVCache, StaticKVCache
from scratchml.transformer.dropout import Dropout
from scratchml.transformer.feedforward import FeedForward
from scratchml.transformer.masks import causal_mask, padding_mask
from scratchml.transformer.positions import sinusoidal_positions
from scratchml.transformer.precision import autocast, bf16_is_native, use_bf16

__all__ = ["Block", "DecoderBlock", "DecoderCache", "Dropout", "FeedForward", "KVCache", "MultiHeadAttention",
           "PostLNBlock", "StaticKVCache", "autocast", "bf16_is_native", "causal_mask", "padding_mask",
           "scaled_dot_product_attention", "sinusoidal_positions", "use_bf16"]
