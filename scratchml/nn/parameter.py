"""A trainable tensor and its gradient, side by side."""

import numpy as np


class Parameter:
    """``data`` and ``grad`` of the same shape and dtype.

    ``decay`` says whether weight decay applies: it does for weight matrices, not for biases
    (decaying a bias pulls the layer's offset towards zero for no regularising benefit).
    Layers *overwrite* ``grad`` in their backward pass, so there is no ``zero_grad`` step.
    """

    def __init__(self, data: np.ndarray, decay: bool = True, grad: np.ndarray | None = None):
        self.data = data
        self.grad = np.zeros_like(data) if grad is None else grad
        self.decay = decay

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size
