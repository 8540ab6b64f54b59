"""Exponential moving average of the weights (Polyak averaging).

With the inverse-square-root schedule the learning rate never reaches zero, so the weights keep
jittering around the optimum. Averaging them over the last ~1/(1 - decay) steps removes most of
that noise for free — the same effect as averaging the last checkpoints (Vaswani et al. 2017,
section 6.1) without storing them. The decay warms up as min(decay, (1 + t) / (10 + t)) so the
average does not remember the random initialization (the schedule of TensorFlow's
ExponentialMovingAverage with num_updates).
"""

from contextlib import contextmanager

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float, updates: int = 0):
        self.params = list(model.parameters())
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay = decay
        self.updates = updates

    @torch.no_grad()
    def update(self) -> None:
        """shadow <- d * shadow + (1 - d) * weights, after each optimizer step."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)

    @contextmanager
    def applied(self):
        """Inside the block the model holds the averaged weights; the training weights come back after."""
        backup = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.shadow)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.params, backup)
