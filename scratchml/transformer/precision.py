"""Whether to compute in bfloat16, decided in one place for training, decoding, the service and
the benchmarks.

bfloat16 keeps float32's exponent range with an 8-bit mantissa, so matrix products in bf16 with
float32 accumulation (``torch.autocast``) train and decode as well as float32 at a fraction of the
memory traffic — where the hardware computes it. CPUs with AVX512-BF16 or AMX do; on an AVX2-only
CPU, oneDNN emulates bf16 by converting to float32 and back, several times slower than plain
float32. Newer GPUs (Ampere and later) compute bf16 natively; older ones emulate it.
"""

import os
from contextlib import AbstractContextManager

import torch

from scratchml.errors import ScratchMLError

ENV = "SCRATCHML_BF16"  # "1" or "0" forces the choice everywhere a caller leaves it open


def bf16_is_native(device: torch.device | str = "cpu") -> bool:
    """True where ``device`` computes bfloat16 in hardware (no emulation)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    try:  # oneDNN's own check: AVX512-BF16, AVX512-FP16 or AMX
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(device: torch.device | str = "cpu", choice: bool | None = None) -> bool:
    """The caller's ``choice`` when it makes one, else $SCRATCHML_BF16, else ``bf16_is_native``."""
    if choice is not None:
        return bool(choice)
    forced = os.environ.get(ENV, "").strip()
    if forced:
        if forced not in ("0", "1"):
            raise ScratchMLError(f"{ENV} must be 0 (float32) or 1 (bfloat16), not {forced!r}")
        return forced == "1"
    return bf16_is_native(device)


def autocast(device: torch.device | str, bf16: bool) -> AbstractContextManager:
    """Matrix products in bfloat16 (float32 weights and accumulation) when ``bf16``, else float32."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
