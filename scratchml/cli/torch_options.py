"""Flags that every command running a PyTorch model shares: threads and precision."""

import argparse

from scratchml.errors import ScratchMLError

THREADS_HELP = ("torch threads (0: PyTorch's default, one per core); use 1 when other work keeps the cores "
                "busy: PyTorch's threads then wait on each other")


def add_bf16(parser) -> None:
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="compute in bfloat16 (--bf16) or float32 (--no-bf16); default: bfloat16 where the "
                        "hardware computes it natively (AVX512-BF16/AMX CPUs, recent GPUs), float32 elsewhere")


def set_threads(n: int) -> None:
    if n < 0:
        raise ScratchMLError(f"--threads must be 0 (PyTorch's default) or more, got {n}")
    if n:
        import torch
        torch.set_num_threads(n)
