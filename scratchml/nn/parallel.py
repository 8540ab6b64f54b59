"""Element-wise updates of big parameter vectors: cache-sized chunks, spread over the cores.

An optimizer step touches every parameter several times (Adam: about a dozen passes). Over a
7 MB vector each pass streams through main memory; cut into 64K-value chunks (256 KB per array)
the passes after the first hit the core's L2 cache instead. NumPy releases the GIL inside its
loops, so plain threads — one contiguous run of chunks each — put every core to work.
"""

import os
from concurrent.futures import ThreadPoolExecutor

CHUNK = 1 << 16
THREADS = min(2, os.cpu_count() or 1)
_pool = None


def split(n: int) -> list[slice]:
    """Slices cutting range(n) into chunks of at most CHUNK."""
    return [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


def run(fn, jobs: list) -> None:
    """Call ``fn(job)`` for every job, the list cut into one contiguous share per thread."""
    global _pool
    if THREADS == 1 or len(jobs) == 1:
        for job in jobs:
            fn(job)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="scratchml")
    share = -(-len(jobs) // THREADS)
    futures = [_pool.submit(_run_all, fn, jobs[i:i + share]) for i in range(0, len(jobs), share)]
    for f in futures:
        f.result()


def _run_all(fn, jobs):
    for job in jobs:
        fn(job)
