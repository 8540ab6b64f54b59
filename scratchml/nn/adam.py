"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019).

Adam keeps running averages of the gradient g and of its square, and steps each coordinate by
its mean over its root-mean-square — roughly ±η per step whatever the gradient's scale:

    m ← β₁m + (1 − β₁) g                      first moment
    v ← β₂v + (1 − β₂) g²                     second moment
    θ ← θ − η · m̂ / (√v̂ + ε),   m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   (bias correction)

Every constant factor is folded into two scalars per step (as in section 2 of the paper, one
step further): storing m̃ = m/(1 − β₁) and ṽ = v/(1 − β₂) the update becomes

    m̃ ← β₁m̃ + g,   ṽ ← β₂ṽ + g²,   θ ← θ − α_t · m̃ / (√ṽ + ε̂)
    α_t = η (1 − β₁) c / (1 − β₁ᵗ),   ε̂ = ε c,   c = √((1 − β₂ᵗ) / (1 − β₂))

— the same update as above in ten passes over memory instead of thirteen.

Weight decay λ (only on ``decay`` parameters):
- Adam adds λθ to g (L2 penalty), so the decay is rescaled by the adaptive denominator;
- AdamW decouples it: θ ← θ − ηλθ before the Adam step, a true weight decay that regularises
  better. Both match ``torch.optim.Adam`` / ``torch.optim.AdamW``.
"""

import math

import numpy as np

from scratchml.nn.optimizer import Optimizer


class Adam(Optimizer):
    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        for p, state in zip(self.chunks, self.state):
            state["m"], state["v"] = np.zeros_like(p.data), np.zeros_like(p.data)   # m̃, ṽ

    def begin_step(self):
        self.t += 1

    def update(self, p, state):
        g, m, v, tmp = p.grad, state["m"], state["v"], state["tmp"]
        b1, b2, t = self.beta1, self.beta2, self.t
        if self.weight_decay and p.decay:
            if self.decoupled:
                p.data *= 1 - self.lr * self.weight_decay
            else:
                np.multiply(p.data, self.weight_decay, out=tmp)
                g += tmp
        m *= b1                                             # m̃ ← β₁m̃ + g
        m += g
        v *= b2                                             # ṽ ← β₂ṽ + g²
        np.multiply(g, g, out=tmp)
        v += tmp
        c = math.sqrt((1 - b2 ** t) / (1 - b2))
        np.sqrt(v, out=tmp)                                 # θ ← θ − α_t m̃ / (√ṽ + ε̂)
        tmp += self.eps * c
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr * (1 - b1) * c / (1 - b1 ** t)
        p.data -= tmp


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)
