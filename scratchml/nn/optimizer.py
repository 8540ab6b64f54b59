"""What every optimizer shares: a list of parameters, a learning rate, per-parameter state.

Each parameter is cut into chunks (views, see chunks.py) that are updated by ``update``, which
sees one chunk and that chunk's own state. Chunks are independent, so a step hands them out to
one thread per core: NumPy releases the GIL inside its element-wise loops, and the update — ten
passes over every weight for Adam — is limited by how fast one core streams memory.
"""

import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.nn.chunks import split
from scratchml.nn.parameter import Parameter


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Optimizer(ABC):
    def __init__(self, params: list[Parameter], lr: float, weight_decay: float = 0.0, threads: int = 0):
        self.params = list(params)
        self.lr = lr                 # a schedule may change it before each step
        self.weight_decay = weight_decay
        if not all(p.data.flags.c_contiguous and p.grad.flags.c_contiguous for p in self.params):
            raise ScratchMLError("optimizer parameters must be C-contiguous arrays")
        self.chunks = [Parameter(p.data.reshape(-1)[s], p.decay, p.grad.reshape(-1)[s])
                       for p in self.params for s in split(p.size)]
        self.state = [{"tmp": np.empty_like(c.data)} for c in self.chunks]
        self.threads = max(1, min(threads or cpu_count(), len(self.chunks)))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def step(self) -> None:
        """Apply one update from the gradients the last backward pass wrote (may modify them)."""
        self.begin_step()
        k, n = self.threads, len(self.chunks)
        # Thread i takes chunks i, i + k, i + 2k, ...: equal shares even when one group is small.
        others = [self._pool.submit(self.update_chunks, range(i, n, k)) for i in range(1, k)]
        self.update_chunks(range(0, n, k))
        for f in others:
            f.result()

    def begin_step(self) -> None:
        """Per-step bookkeeping before the chunks are updated (Adam counts its steps here)."""

    def update_chunks(self, indices) -> None:
        for i in indices:
            self.update(self.chunks[i], self.state[i])

    @abstractmethod
    def update(self, p: Parameter, state: dict) -> None:
        """Update ``p.data`` in place from ``p.grad``; ``state["tmp"]`` is a scratch array."""
