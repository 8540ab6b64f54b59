"""Inverted dropout (Srivastava et al. 2014).

Training: each unit is zeroed with probability p and the survivors are scaled by 1/(1−p), so the
expected activation is unchanged and evaluation needs no rescaling:

    y = x ⊙ m / (1 − p),   m_i ~ Bernoulli(1 − p),   dL/dx = dL/dy ⊙ m / (1 − p)

Evaluation (``model.eval()``): y = x.
"""

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.nn.module import Module


class Dropout(Module):
    def __init__(self, p: float = 0.5, seed: int = 0):
        if not 0 <= p < 1:
            raise ScratchMLError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        if not self.training or self.p == 0:
            self.mask = None
            return x
        u = self.rng.random(x.shape, dtype=np.float32)
        self.mask = mask = self._buffer("mask", x.shape, x.dtype)
        np.greater_equal(u, self.p, out=mask)               # 1 keeps, 0 drops
        mask *= 1 / (1 - self.p)
        return np.multiply(x, mask, out=self._buffer("y", x.shape, x.dtype))

    def backward(self, grad, input_grad=True):
        if self.mask is not None:
            grad *= self.mask
        return grad

    def config(self):
        return {"p": self.p}
