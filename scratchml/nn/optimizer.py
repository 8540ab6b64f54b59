"""What every optimizer shares: a list of parameters, a learning rate, per-parameter state."""

from abc import ABC, abstractmethod

import numpy as np

from scratchml.nn.parameter import Parameter


class Optimizer(ABC):
    def __init__(self, params: list[Parameter], lr: float, weight_decay: float = 0.0):
        self.params = list(params)
        self.lr = lr                 # a schedule may change it before each step
        self.weight_decay = weight_decay
        self.state = [{"tmp": np.empty_like(p.data)} for p in self.params]

    def step(self) -> None:
        """Apply one update from the gradients the last backward pass wrote (may modify them)."""
        for p, state in zip(self.params, self.state):
            self.update(p, state)

    @abstractmethod
    def update(self, p: Parameter, state: dict) -> None:
        """Update ``p.data`` in place from ``p.grad``; ``state["tmp"]`` is a scratch array."""
