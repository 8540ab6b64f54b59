"""The learning-rate schedule: warm-up, inverse square root, optional linear cooldown.

Vaswani et al. (2017, eq. 3) raise the rate linearly for ``warmup`` steps, then decay it as
1/sqrt(step): lr = peak * min(s / w, sqrt(w / s)). The rate never reaches zero, so a run can go on
for as long as it likes. A final linear decay to zero over the last ``cooldown_steps`` (the
"warmup-stable-decay" shape) lands the weights in the minimum; Hägele et al. (2024, "Scaling Laws
and Compute-Optimal Training Beyond Fixed Training Durations") find it matches a cosine schedule.
"""

import math

from scratchml.translate.config import TrainConfig


def inverse_sqrt_lr(step: int, peak: float, warmup: int) -> float:
    step = max(step, 1)
    return peak * min(step / warmup, math.sqrt(warmup / step))


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """The rate of optimizer step ``step`` (1-based): inverse square root, times the cooldown's
    linear ramp (max_steps - step + 1) / cooldown_steps over the last cooldown_steps steps."""
    lr = inverse_sqrt_lr(step, cfg.lr, cfg.warmup_steps)
    if cfg.cooldown_steps:
        lr *= min(1.0, max(0.0, (cfg.max_steps - step + 1) / cfg.cooldown_steps))
    return lr
