"""Byte dropout: the expectation of the input is kept, and the drop rate is round(256 p) / 256."""

import pytest
import torch

from scratchml.transformer import Dropout
from scratchml.transformer.dropout import byte_dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drop_rate_and_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = byte_dropout(x, p)
    rate = round(256 * p) / 256
    assert abs(float((y == 0).float().mean()) - rate) < 0.005
    assert abs(float(y.mean()) - 1.0) < 0.01  # kept elements are scaled up by 1 / (1 - rate)


def test_off_in_eval_mode_and_at_zero():
    x = torch.randn(3, 5)
    d = Dropout(0.5).eval()
    assert torch.equal(d(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    with pytest.raises(ValueError):
        Dropout(1.0)
