"""Fully connected layer: y = x W + b.

Shapes: x (B, I), W (I, O), b (O,), y (B, O). With upstream gradient G = dL/dy (B, O):

    dL/dW = xᵀ G        (I, O)
    dL/db = Σ_batch G   (O,)
    dL/dx = G Wᵀ        (B, I)

W is stored (in, out) so that the forward pass is a plain ``x @ W`` with no transpose.

Initialisation keeps the activations' variance constant from layer to layer:
- "he"     (He et al. 2015, for ReLU):      W ~ N(0, 2 / I)
- "xavier" (Glorot & Bengio 2010, tanh):    W ~ U(-a, a), a = sqrt(6 / (I + O))
"""

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.nn.module import Module
from scratchml.nn.parameter import Parameter


def init_weight(fan_in: int, fan_out: int, scheme: str, rng: np.random.Generator) -> np.ndarray:
    if scheme == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    if scheme == "xavier":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, size=(fan_in, fan_out))
    raise ScratchMLError(f"unknown weight init {scheme!r}; use 'he' or 'xavier'")


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, init: str = "he",
                 rng: np.random.Generator | None = None, dtype=np.float32):
        rng = rng if rng is not None else np.random.default_rng(0)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init_weight(in_features, out_features, init, rng).astype(dtype))
        self.bias = Parameter(np.zeros(out_features, dtype), decay=False)

    def forward(self, x):                                   # x (B, I)
        self.x = x                                          # kept for dL/dW
        y = self._buffer("y", (x.shape[0], self.out_features), x.dtype)
        np.dot(x, self.weight.data, out=y)                  # (B, O)
        y += self.bias.data
        return y

    def backward(self, grad, input_grad=True):              # grad (B, O)
        np.dot(self.x.T, grad, out=self.weight.grad)        # (I, O)
        np.sum(grad, axis=0, out=self.bias.grad)            # (O,)
        if not input_grad:
            return None                                     # first layer: saves 1/3 of its FLOPs
        dx = self._buffer("dx", self.x.shape, grad.dtype)
        np.dot(grad, self.weight.data.T, out=dx)            # (B, I)
        return dx

    def parameters(self):
        return [self.weight, self.bias]

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features}
