"""The fused cross-entropy against PyTorch's F.cross_entropy: the loss and the gradient."""

import pytest
import torch
import torch.nn.functional as F

from scratchml.transformer.cross_entropy import cross_entropy


@pytest.mark.parametrize("rows", [1, 3, 64])  # 3 does not divide the 10 rows: the last block is shorter
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_and_gradient_match_torch_in_float64(rows, smoothing, reduction):
    g = torch.Generator().manual_seed(0)
    logits = (5 * torch.randn(10, 17, generator=g, dtype=torch.float64)).requires_grad_()
    targets = torch.randint(0, 17, (10,), generator=g)
    upstream = torch.tensor(0.7, dtype=torch.float64)
    ours = cross_entropy(logits, targets, smoothing, reduction, rows)
    (grad,) = torch.autograd.grad(ours, logits, upstream)
    ref = F.cross_entropy(logits, targets, label_smoothing=smoothing, reduction=reduction)
    (ref_grad,) = torch.autograd.grad(ref, logits, upstream)
    assert torch.allclose(ours.double(), ref, rtol=1e-6, atol=1e-6)
    assert torch.allclose(grad, ref_grad, atol=1e-12)


def test_bfloat16_logits_give_the_float32_loss_and_a_bfloat16_gradient():
    g = torch.Generator().manual_seed(1)
    logits = (3 * torch.randn(40, 300, generator=g)).bfloat16().requires_grad_()
    targets = torch.randint(0, 300, (40,), generator=g)
    ours = cross_entropy(logits, targets, rows=16)
    ours.backward()
    ref_logits = logits.detach().float().requires_grad_()
    ref = F.cross_entropy(ref_logits, targets)
    ref.backward()
    assert ours.dtype == torch.float32 and torch.allclose(ours, ref, atol=1e-5)
    assert logits.grad.dtype == torch.bfloat16
    assert torch.allclose(logits.grad.float(), ref_logits.grad, atol=1e-4, rtol=1e-2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(logits=torch.zeros(2, 3, 4), targets=torch.zeros(2, 3, dtype=torch.long)), "expected logits"),
    (dict(logits=torch.zeros(2, 3), targets=torch.zeros(2, dtype=torch.long), reduction="none"), "reduction"),
    (dict(logits=torch.zeros(2, 3), targets=torch.zeros(2, dtype=torch.long), smoothing=1.0), "smoothing"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cross_entropy(**kwargs)
