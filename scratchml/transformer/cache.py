"""Key/value caches for incremental decoding.

A decoder produces one token per step, and each step's attention needs the keys and values of
every earlier position. Those never change (the mask hides later positions from earlier ones), so
they are computed once and kept: a step then projects only its newest token, and decoding T tokens
costs O(T) projections instead of O(T^2).
"""

import torch


class KVCache:
    """Keys and values of one attention layer, (B, H, positions so far, Dh) each."""

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.size(2)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add this step's keys and values after the earlier ones; return all of them."""
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep the rows ``index`` (beam search: the hypotheses that survive a step)."""
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


class StaticKVCache(KVCache):
    """A ``KVCache`` with room for ``capacity`` positions, allocated at the first call. A step writes
    its keys and values into the free slots instead of concatenating them to the earlier ones, and
    returns all ``capacity`` slots: the attention mask must hide the ones not written yet (their
    keys are zeros, never garbage, so that a weight of 0 times them stays 0).

    Why: with growing keys, every step multiplies tensors of a new shape, and in bfloat16 oneDNN
    builds a new kernel for each new shape, which for one new token costs several times the product
    itself. Here the shapes stay the same from the second step on, and no step copies the
    earlier keys. Attending over the empty slots too costs little while a step has one query."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity, self.length = capacity, 0

    def __len__(self) -> int:
        return self.length

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, H, T, Dh = k.shape
        if self.k is None:
            self.k, self.v = k.new_zeros(B, H, self.capacity, Dh), v.new_zeros(B, H, self.capacity, Dh)
        if self.length + T > self.capacity:
            raise ValueError(f"{self.length + T} positions: this cache holds {self.capacity}")
        self.k[:, :, self.length:self.length + T] = k
        self.v[:, :, self.length:self.length + T] = v
        self.length += T
        return self.k, self.v


class DecoderCache:
    """One decoder layer's caches: its self-attention over the output so far, and its
    cross-attention's projection of the encoder output, which is the same at every step."""

    def __init__(self):
        self.self_attn = KVCache()
        self.cross_attn = KVCache()

    def reorder(self, index: torch.Tensor) -> None:
        # Only the self-attention cache moves: in beam search all rows of one sentence hold the same
        # encoder output, and a hypothesis never moves to another sentence's rows.
        self.self_attn.reorder(index)
