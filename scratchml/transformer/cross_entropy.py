"""The training loss of a language model or a translator, with its gradient computed in the same pass.

For logits z (N, V), targets y and label smoothing ε (Szegedy et al. 2016; Vaswani et al. 2017,
section 5.4: the target puts 1 − ε on the right token and spreads ε over all V), each row's loss is

    ℓ_n = logsumexp(z_n) − (1 − ε) z_n,y_n − (ε / V) Σ_v z_n,v,

and its gradient is softmax(z_n) − (1 − ε) onehot(y_n) − ε / V; the mean over rows divides both by N.

The logits are the largest tensor of a training step (a GPT batch: 32 × 256 positions × 8,192
tokens, 67 M numbers), and autograd's route through them — a float32 copy, log-softmax, its saved
output, its backward, a cast back to bfloat16 — passes over that tensor half a dozen times. Here each
block of rows is read once, in float32 while it is in the CPU's cache: its loss and its gradient come
out together, and the gradient is kept in the logits' own precision, which is what the matrix
product behind them would cast it to anyway.
"""

import torch


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, smoothing: float, scale: float,
                rows: int) -> torch.Tensor:
        V = logits.size(1)
        dtype = torch.promote_types(logits.dtype, torch.float32)  # bfloat16 logits are summed in float32
        grad = torch.empty_like(logits)
        total = torch.zeros((), dtype=dtype, device=logits.device)
        for i in range(0, logits.size(0), rows):
            z = logits[i:i + rows].to(dtype)  # (rows, V)
            y = targets[i:i + rows, None]   # (rows, 1)
            lse = torch.logsumexp(z, dim=-1, keepdim=True)
            total += (lse - (1 - smoothing) * z.gather(1, y)).sum()
            if smoothing:
                total -= smoothing / V * z.sum()
            p = (z - lse).exp_()  # softmax
            p.scatter_add_(1, y, torch.full_like(y, smoothing - 1, dtype=p.dtype))
            if smoothing:
                p -= smoothing / V
            grad[i:i + rows] = p.mul_(scale)
        ctx.save_for_backward(grad)
        return total * scale

    @staticmethod
    def backward(ctx, upstream: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * upstream.to(grad.dtype), None, None, None, None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0,
                  reduction: str = "mean", rows: int = 64) -> torch.Tensor:
    """Cross-entropy (a float32 scalar, float64 for float64 logits) of logits (N, V) against targets (N,), as
    ``F.cross_entropy(logits.float(), targets, label_smoothing=smoothing, reduction=reduction)``
    computes it; ``reduction`` "mean" or "sum"; ``rows`` of logits at a time."""
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, V) and targets (N,), "
                         f"got {tuple(logits.shape)} and {tuple(targets.shape)}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
    scale = 1 / max(1, logits.size(0)) if reduction == "mean" else 1.0
    return _CrossEntropy.apply(logits, targets, float(smoothing), scale, rows)
