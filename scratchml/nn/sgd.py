"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

With gradient g, weight decay λ (only on ``decay`` parameters), momentum μ and learning rate η —
the same update as ``torch.optim.SGD`` (dampening 0):

    g ← g + λθ                        L2 penalty λ/2·‖θ‖² folded into the gradient
    v ← μv + g                        velocity: a running sum of past gradients
    d = g + μv   (Nesterov)   or   d = v   (classical, Polyak 1964)
    θ ← θ − η d

Nesterov's form (Sutskever et al. 2013) looks one step ahead along the velocity before applying
the gradient, which damps the oscillations classical momentum makes in narrow valleys.
"""

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.nn.optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        if nesterov and momentum <= 0:
            raise ScratchMLError("Nesterov momentum needs momentum > 0")
        super().__init__(params, lr, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov
        for p, state in zip(self.chunks, self.state):
            if momentum:
                state["velocity"] = np.zeros_like(p.data)

    def update(self, p, state):
        g, tmp = p.grad, state["tmp"]
        if self.weight_decay and p.decay:
            np.multiply(p.data, self.weight_decay, out=tmp)
            g += tmp
        if self.momentum:
            v = state["velocity"]
            v *= self.momentum
            v += g
            if self.nesterov:
                np.multiply(v, self.momentum, out=tmp)
                g += tmp
            else:
                g = v
        np.multiply(g, self.lr, out=tmp)
        p.data -= tmp
