"""Where training runs: the device, and the process group of data-parallel training.

Data parallel: the same script runs under ``torchrun --nproc-per-node N``; every process builds the
same global batches and trains on its slice, and PyTorch's DistributedDataParallel averages the
gradients (gloo between CPU processes, NCCL between GPUs).
"""

import os

import torch
import torch.distributed as dist

from scratchml.errors import ScratchMLError


def world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def pick_device(name: str = "auto") -> torch.device:
    """"auto": a GPU when CUDA is available (under torchrun, the one of LOCAL_RANK), else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise ScratchMLError(f"unknown device {name!r}; use auto, cpu or cuda")
    if not torch.cuda.is_available():
        raise ScratchMLError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU here")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank >= torch.cuda.device_count():
        raise ScratchMLError(f"process LOCAL_RANK={local_rank} has no GPU of its own ({torch.cuda.device_count()} "
                             f"visible): start at most that many processes per node")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def init_distributed(device: torch.device) -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return True
    return False


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process if it is true on one: ranks that stop on different steps would leave
    the others waiting in their next all-reduce forever (each rank reads its own clock)."""
    if world()[1] == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
