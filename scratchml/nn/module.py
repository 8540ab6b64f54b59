"""The layer interface: ``forward`` caches what ``backward`` needs; ``backward`` applies the chain rule.

For a layer y = f(x; θ) inside a network with scalar loss L, ``backward`` receives dL/dy, writes
dL/dθ into each parameter's ``grad`` and returns dL/dx for the layer below.

Speed: outputs live in buffers owned by the layer and reused from one batch to the next (one per
shape), so a training step allocates almost nothing. The price is that a layer's output is only
valid until its next ``forward``: copy it if you need to keep it. ``backward`` may overwrite the
gradient it is given.
"""

from abc import ABC, abstractmethod

import numpy as np

from scratchml.nn.parameter import Parameter


class Module(ABC):
    training = True

    @abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """x → y."""

    @abstractmethod
    def backward(self, grad: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dy → dL/dx. With ``input_grad=False`` a layer may skip computing dL/dx (and return None)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def parameters(self) -> list[Parameter]:
        return []

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def config(self) -> dict:
        """The constructor arguments, for the JSON architecture saved next to the weights."""
        return {}

    def _buffer(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A reusable uninitialised array, one per (name, shape, dtype)."""
        buffers = self.__dict__.setdefault("_buffers", {})
        key = (name, shape, np.dtype(dtype))
        if key not in buffers:
            buffers[key] = np.empty(shape, dtype)
        return buffers[key]
