"""Learning-rate schedules against torch.optim.lr_scheduler and their closed forms."""

import math

import pytest

from scratchml import nn

torch = pytest.importorskip("torch")


def torch_lrs(make_scheduler, steps, lr=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_step_lr_matches_torch():
    ours = nn.StepLR(0.1, step_size=3, gamma=0.5)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5), 10)
    assert [ours(t) for t in range(10)] == pytest.approx(theirs)


def test_cosine_matches_torch():
    ours = nn.CosineLR(0.1, total_steps=8, min_lr=0.01)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 8, eta_min=0.01), 9)
    assert [ours(t) for t in range(9)] == pytest.approx(theirs)
    assert ours(100) == pytest.approx(0.01)                 # stays at the floor after T


def test_warmup_then_cosine():
    sched = nn.Warmup(nn.CosineLR(1.0, total_steps=10), warmup_steps=4)
    assert [sched(t) for t in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert sched(4) == 1.0 and sched(9) == pytest.approx((1 + math.cos(math.pi / 2)) / 2)
    assert sched(14) == pytest.approx(0.0, abs=1e-12)
    assert nn.Constant(0.3)(99) == 0.3
