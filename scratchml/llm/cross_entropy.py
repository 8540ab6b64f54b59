"""The language-modelling loss with its gradient computed in the same pass.

For logits z (N, V) and targets y, the mean cross-entropy and its gradient are

    L = (1/N) Σ_n [logsumexp(z_n) − z_n,y_n],        ∂L/∂z_n = (softmax(z_n) − onehot(y_n)) / N.

The logits are the largest tensor of a training step (32 × 256 positions × 8,192 tokens: 67 M
numbers), and autograd's route through them — a float32 copy, log-softmax, its saved output, its
backward, a cast back to bfloat16 — passes over that tensor half a dozen times. Here each block of
rows is read once, in float32 while it is in the CPU's cache: its loss and its gradient come out
together, and the gradient is kept in the logits' own precision, which is what the matrix product
behind them would cast it to anyway.
"""

import torch


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, rows: int) -> torch.Tensor:
        n = logits.size(0)
        grad = torch.empty_like(logits)
        total = torch.zeros((), dtype=torch.float32, device=logits.device)
        for i in range(0, n, rows):
            z = logits[i:i + rows].float()  # (rows, V)
            y = targets[i:i + rows, None]   # (rows, 1)
            lse = torch.logsumexp(z, dim=-1, keepdim=True)
            total += (lse - z.gather(1, y)).sum()
            p = (z - lse).exp_()  # softmax
            p.scatter_add_(1, y, torch.full_like(y, -1, dtype=p.dtype))
            grad[i:i + rows] = p.div_(n)
        ctx.save_for_backward(grad)
        return total / n

    @staticmethod
    def backward(ctx, upstream: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * upstream.to(grad.dtype), None, None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, rows: int = 64) -> torch.Tensor:
    """Mean cross-entropy (a float32 scalar) of logits (N, V) against targets (N,), ``rows`` at a time."""
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, V) and targets (N,), "
                         f"got {tuple(logits.shape)} and {tuple(targets.shape)}")
    return _CrossEntropy.apply(logits, targets, rows)
