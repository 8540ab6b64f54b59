"""Learning-rate schedules: callables that map the step number t (0, 1, …) to a learning rate.

    StepLR   η_t = η · γ^⌊t / s⌋                                 drop by γ every s steps
    CosineLR η_t = η_min + (η − η_min) · (1 + cos(π t / T)) / 2    (Loshchilov & Hutter 2017)
    Warmup   η_t = inner(0) · (t + 1) / w  for t < w, then inner(t − w)

Warm-up (Goyal et al. 2017) keeps the first steps small while Adam's moment estimates and the
freshly initialised weights are still far from settled; cosine decay then anneals smoothly to
η_min so the last epochs average out gradient noise.
"""

import math


class Constant:
    def __init__(self, lr: float):
        self.lr = lr

    def __call__(self, t: int) -> float:
        return self.lr


class StepLR:
    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.step_size)


class CosineLR:
    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0):
        self.lr, self.total, self.min_lr = lr, max(total_steps, 1), min_lr

    def __call__(self, t: int) -> float:
        progress = min(t, self.total) / self.total
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class Warmup:
    def __init__(self, inner, warmup_steps: int):
        self.inner, self.warmup = inner, warmup_steps

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return self.inner(0) * (t + 1) / self.warmup
        return self.inner(t - self.warmup)
