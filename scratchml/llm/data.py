"""Token streams and batches for language-model training.

All documents become one stream of token ids, each document preceded by the end-of-text token:
``<eot> review 1 <eot> review 2 ...`` (GPT-2's packing). The model then learns where a review starts,
and a window that spans two reviews teaches it that the end-of-text token resets the topic.

An epoch cuts the stream into windows of ``context + 1`` tokens (inputs are the first ``context``,
targets the same shifted by one) from a random offset, and visits them in a random order; both
follow from (seed, epoch) alone, so a resumed run sees the batches an uninterrupted run would.
Validation windows are cut from the start, in order.
"""

import numpy as np
import torch
from tqdm import tqdm

from scratchml.bpe import Tokenizer


def token_stream(tokenizer: Tokenizer, texts: list[str], eot_id: int, progress: bool = False) -> np.ndarray:
    """The texts as one stream, each after an end-of-text token: (N,) int32."""
    parts = []
    for text in tqdm(texts, desc="tokenizing", unit="text", disable=not progress, dynamic_ncols=True):
        parts.append([eot_id])
        parts.append(tokenizer.encode(text, allow_special=False))  # review text is never a special token
    return np.fromiter((t for part in parts for t in part), dtype=np.int32)


def epoch_windows(n_tokens: int, context: int, seed: int, epoch: int) -> np.ndarray:
    """Start positions of this epoch's training windows, in the order to visit them."""
    rng = np.random.default_rng([seed, epoch])
    offset = int(rng.integers(context))
    starts = np.arange(offset, n_tokens - context - 1 + 1, context)
    return starts[rng.permutation(len(starts))]


def window_batch(stream: np.ndarray, starts: np.ndarray, context: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows at ``starts`` -> inputs and targets (B, T)."""
    rows = np.stack([stream[s:s + context + 1] for s in starts]).astype(np.int64)  # (B, T + 1)
    rows = torch.from_numpy(rows).to(device)
    return rows[:, :-1], rows[:, 1:]


def validation_windows(n_tokens: int, context: int) -> np.ndarray:
    return np.arange(0, n_tokens - context - 1 + 1, context)
