"""Byte-level BPE: pre-tokenize with a GPT-4-style regex, train with incremental pair counts,
encode/decode any Unicode text, export to HF tokenizers and tiktoken."""

from scratchml.bpe.pretokenize import PATTERN
from scratchml.bpe.tokenizer import SpecialTokens, Tokenizer, UnknownSpecialToken

__all__ = ["PATTERN", "SpecialTokens", "Tokenizer", "UnknownSpecialToken"]
