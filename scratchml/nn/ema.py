"""Exponential moving average of the weights (Polyak & Juditsky 1992; as in TF's
``ExponentialMovingAverage``).

SGD's last iterate jitters around a minimum; an average of recent iterates sits closer to its
centre and usually generalises better, at no cost in training:

    θ̄ ← d θ̄ + (1 − d) θ,   d_t = min(d, (1 + t) / (10 + t))

The ramp on d_t keeps the average from clinging to the random initial weights early on. Evaluate
and save with the averaged weights: ``ema.copy_to(model)``.
"""

import numpy as np

from scratchml.nn.chunks import parallel, split
from scratchml.nn.sequential import Sequential


class EMA:
    def __init__(self, model: Sequential, decay: float = 0.999):
        self.decay = decay
        self.flat = model.flat.data
        self.average = self.flat.copy()
        tmp = np.empty_like(self.flat)
        self._chunks = [(self.flat[s], self.average[s], tmp[s]) for s in split(self.flat.size)]
        self.t = 0

    def update(self) -> None:
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        self.t += 1
        parallel(lambda indices: self._update_chunks(indices, 1 - d), len(self._chunks))

    def _update_chunks(self, indices, rate: float) -> None:
        for i in indices:                                   # θ̄ ← θ̄ + (1 − d)(θ − θ̄)
            live, average, tmp = self._chunks[i]
            np.subtract(live, average, out=tmp)
            tmp *= rate
            average += tmp

    def copy_to(self, model: Sequential) -> None:
        model.flat.data[...] = self.average
