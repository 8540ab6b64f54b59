"""Element-wise non-linearities y = f(x), whose backward pass is dL/dx = dL/dy ⊙ f'(x).

Each derivative is written in terms of the *output* y where it can be, so only y is kept:

    ReLU       y = max(x, 0)            f' = [y > 0]
    LeakyReLU  y = x if x > 0 else αx   f' = 1 if x > 0 else α   (Maas et al. 2013)
    Tanh       y = tanh x               f' = 1 − y²
    Sigmoid    y = 1 / (1 + e^(−x))     f' = y (1 − y)

Sigmoid is computed as (1 + tanh(x/2)) / 2, which is the same function but never overflows exp.
The gradient is modified in place: backward owns the buffer it is handed (see module.py).
"""

import numpy as np

from scratchml.nn.module import Module


class ReLU(Module):
    def forward(self, x):
        self.y = np.maximum(x, 0, out=self._buffer("y", x.shape, x.dtype))
        return self.y

    def backward(self, grad, input_grad=True):
        grad *= self.y > 0
        return grad


class LeakyReLU(Module):
    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def forward(self, x):
        self.positive = x > 0
        return np.where(self.positive, x, self.slope * x)

    def backward(self, grad, input_grad=True):
        grad *= np.where(self.positive, 1, self.slope)
        return grad

    def config(self):
        return {"slope": self.slope}


class Tanh(Module):
    def forward(self, x):
        self.y = np.tanh(x, out=self._buffer("y", x.shape, x.dtype))
        return self.y

    def backward(self, grad, input_grad=True):
        grad *= 1 - self.y * self.y
        return grad


class Sigmoid(Module):
    def forward(self, x):
        y = self._buffer("y", x.shape, x.dtype)
        np.multiply(x, 0.5, out=y)
        np.tanh(y, out=y)
        y += 1
        y *= 0.5
        self.y = y
        return y

    def backward(self, grad, input_grad=True):
        grad *= self.y * (1 - self.y)
        return grad
