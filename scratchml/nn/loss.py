"""Softmax and cross-entropy fused into one layer, which is both stabler and cheaper than apart.

For logits z (B, K) and integer targets t (B,), with optional label smoothing ε (Szegedy et al.
2016) that trains against the soft target q = (1 − ε)·onehot(t) + ε/K:

    log p_k = z_k − m − log Σ_j exp(z_j − m),   m = max_j z_j      (log-sum-exp trick: no overflow)
    L       = −(1/B) Σ_b Σ_k q_bk log p_bk
    dL/dz   = (p − q) / B

Computing dL/dz directly skips the softmax Jacobian entirely, and working in log space means a
confidently wrong prediction gives a large finite loss instead of log(0) = −inf.
"""

import numpy as np

from scratchml.errors import ScratchMLError


class SoftmaxCrossEntropy:
    def __init__(self, label_smoothing: float = 0.0):
        if not 0 <= label_smoothing < 1:
            raise ScratchMLError(f"label smoothing must be in [0, 1), got {label_smoothing}")
        self.eps = label_smoothing

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        B, K = logits.shape                                 # (B, K)
        z = logits - logits.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.probs, self.targets = np.exp(log_p), targets
        rows = np.arange(B)
        nll = -log_p[rows, targets].mean()
        if self.eps == 0:
            return float(nll)
        uniform = -log_p.mean()                             # (1/B) Σ_b (1/K) Σ_k −log p_bk
        return float((1 - self.eps) * nll + self.eps * uniform)

    def backward(self) -> np.ndarray:
        B, K = self.probs.shape
        grad = self.probs                                   # reused in place: p − q, then / B
        if self.eps:
            grad -= self.eps / K
        grad[np.arange(B), self.targets] -= 1 - self.eps
        grad /= B
        return grad
