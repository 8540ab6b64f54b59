"""The weight average against the formula written out in plain Python."""

import torch

from scratchml.translate.ema import EMA


def test_ema_follows_the_warmed_up_recurrence_and_restores_weights():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    ema = EMA(layer, decay=0.9)
    expected = layer.weight.detach().clone()
    for t in range(1, 30):
        with torch.no_grad():
            layer.weight.add_(torch.randn(2, 3))
        ema.update()
        d = min(0.9, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * layer.weight.detach()
    training = layer.weight.detach().clone()
    with ema.applied():
        assert torch.allclose(layer.weight, expected, atol=1e-6)
    assert torch.equal(layer.weight, training)
