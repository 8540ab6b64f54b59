"""What every optimizer shares: a list of parameters, a learning rate, per-parameter state.

Each parameter is cut into chunks (views, see chunks.py) that are updated by ``update``, which
sees one chunk and that chunk's own state; a step updates the chunks on all cores at once.
"""

from abc import ABC, abstractmethod

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.nn.chunks import parallel, split
from scratchml.nn.parameter import Parameter


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
        self.threads = threads                                  # 0: one per core

    def step(self) -> None:
        """Apply one update from the gradients the last backward pass wrote (may modify them)."""
        self.begin_step()
        parallel(self.update_chunks, len(self.chunks), self.threads)

    def begin_step(self) -> None:  # noqa: B027  (an optional hook: does nothing unless a subclass needs it)
        """Per-step bookkeeping before the chunks are updated (Adam counts its steps here)."""

    def update_chunks(self, indices) -> None:
        for i in indices:
            self.update(self.chunks[i], self.state[i])

    @abstractmethod
    def update(self, p: Parameter, state: dict) -> None:
        """Update ``p.data`` in place from ``p.grad``; ``state["tmp"]`` is a scratch array."""
