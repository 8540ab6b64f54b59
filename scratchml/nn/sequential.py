"""A stack of layers applied in order; backward runs the chain rule in reverse.

All parameters live in one contiguous vector (and all gradients in another): each layer's W and b
are views into it. The optimizer then updates the whole network with a handful of vectorised
operations instead of a loop over many small arrays. Weights that take weight decay come first,
so ``parameters()`` is just two slices: [decayed weights, biases].
"""

import numpy as np

from scratchml.nn.module import Module
from scratchml.nn.parameter import Parameter


class Sequential(Module):
    def __init__(self, *layers: Module):
        self.layers = list(layers)
        params = [p for layer in self.layers for p in layer.parameters()]
        params.sort(key=lambda p: not p.decay)              # stable: decayed first, order kept
        dtype = params[0].data.dtype if params else np.float32
        n = sum(p.size for p in params)
        self.flat = Parameter(np.empty(n, dtype))
        offset = 0
        for p in params:                                    # rebind each tensor to a view
            data = self.flat.data[offset:offset + p.size].reshape(p.shape)
            data[...] = p.data
            p.data, p.grad = data, self.flat.grad[offset:offset + p.size].reshape(p.shape)
            offset += p.size
        n_decay = sum(p.size for p in params if p.decay)
        flat = self.flat
        self.groups = [Parameter(flat.data[:n_decay], decay=True, grad=flat.grad[:n_decay]),
                       Parameter(flat.data[n_decay:], decay=False, grad=flat.grad[n_decay:])]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad, input_grad=True):
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, input_grad=input_grad or i > 0)
        return grad

    def parameters(self):
        """The two flat groups the optimizer updates (per-layer tensors: ``layer.parameters()``)."""
        return [g for g in self.groups if g.size]

    def train(self, mode=True):
        for layer in self.layers:
            layer.train(mode)
        self.training = mode
        return self

    def predict(self, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        """Class scores for ``x`` in evaluation mode, in batches; returns a new (N, K) array."""
        was_training, out = self.training, None
        self.eval()
        for i in range(0, len(x), batch_size):
            scores = self.forward(x[i:i + batch_size])     # a reused buffer: copy it out
            if out is None:
                out = np.empty((len(x), scores.shape[1]), scores.dtype)
            out[i:i + batch_size] = scores
        self.train(was_training)
        return out
