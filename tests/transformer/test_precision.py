"""The one place that decides between bfloat16 and float32."""

import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.transformer import autocast, bf16_is_native, use_bf16


def test_an_explicit_choice_wins(monkeypatch):
    monkeypatch.setenv("SCRATCHML_BF16", "1")
    assert use_bf16("cpu", False) is False
    monkeypatch.setenv("SCRATCHML_BF16", "0")
    assert use_bf16("cpu", True) is True


def test_the_environment_decides_when_the_caller_does_not(monkeypatch):
    monkeypatch.setenv("SCRATCHML_BF16", "0")
    assert use_bf16("cpu") is False
    monkeypatch.setenv("SCRATCHML_BF16", "1")
    assert use_bf16("cpu") is True
    monkeypatch.setenv("SCRATCHML_BF16", "yes")
    with pytest.raises(ScratchMLError, match="SCRATCHML_BF16"):
        use_bf16("cpu")


def test_the_default_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("SCRATCHML_BF16", raising=False)
    assert use_bf16("cpu") == bf16_is_native("cpu")
    flags = open("/proc/cpuinfo").read() if __import__("os").path.exists("/proc/cpuinfo") else ""
    if flags and not any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "avx512_fp16")):
        assert not bf16_is_native("cpu")  # AVX2-only: bf16 would be emulated


def test_autocast_computes_matrix_products_in_the_chosen_precision():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("cpu", False):
        assert (a @ b).dtype == torch.float32
