"""One training step on all the cores: data parallelism with threads, in NumPy.

Left alone, NumPy's BLAS (OpenBLAS) spreads each matrix product over the cores, but everything
between the products — bias, ReLU, the loss, the optimizer's ten passes over the weights — runs on
one core, and OpenBLAS's idle workers keep spinning meanwhile. Instead, each mini-batch of B
examples is cut into K slices of B_k rows. The model and K − 1 replicas (the same weight memory,
their own gradients and buffers, see ``Sequential.replica``) each run forward and backward on
one slice in their own thread, with single-threaded BLAS — data-parallel training as on K
GPUs (Krizhevsky 2014), here on K cores. The mean loss over the batch is the B_k/B-weighted mean
of the slices' mean losses, so its gradient is

    dL/dθ = Σ_k (B_k / B) · dL_k/dθ

which is what the slices' gradients add up to once each is scaled by B_k/B. The sum and then the
optimizer's update are also split over the threads, by disjoint chunks of the weights. NumPy
releases the GIL inside BLAS calls and inside element-wise loops over large arrays, so the
threads really do run at the same time.
"""

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from scratchml.nn.loss import SoftmaxCrossEntropy
from scratchml.nn.optimizer import Optimizer
from scratchml.nn.sequential import Sequential

MIN_ROWS = 32   # thinner slices would make the matrix products inefficient


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ParallelStep:
    """``step(x, y)``: forward, backward and optimizer step of one mini-batch on ``threads`` threads.
    Use as a context manager: inside it, BLAS runs one thread per call."""

    def __init__(self, model: Sequential, loss_fn: SoftmaxCrossEntropy, optimizer: Optimizer,
                 threads: int = 0):
        self.k = max(1, threads or default_threads())
        self.models = [model] + [model.replica() for _ in range(self.k - 1)]
        self.losses = [loss_fn] + [copy.copy(loss_fn) for _ in range(self.k - 1)]
        self.optimizer = optimizer
        self.grad_slices = _even_slices(model.flat.grad.size, self.k)
        self.n_chunks = len(optimizer.chunks)
        self._pool = self._limits = None

    def __enter__(self) -> "ParallelStep":
        if self.k > 1:
            self._pool = ThreadPoolExecutor(self.k - 1)
            self._limits = threadpool_limits(1, user_api="blas")
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._limits.restore_original_limits()
            self._pool = self._limits = None

    def _run(self, fn, n: int) -> list:
        """fn(0), ..., fn(n − 1), the first in this thread and the others in the pool."""
        futures = [self._pool.submit(fn, i) for i in range(1, n)]
        return [fn(0)] + [f.result() for f in futures]

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """Train on (x, y); returns (summed loss, number of correct predictions) of the batch."""
        n = len(x)
        k = min(self.k, max(1, n // MIN_ROWS)) if self._pool is not None else 1
        bounds = np.linspace(0, n, k + 1).astype(int)
        main = self.models[0]

        def slice_step(i):
            model, loss_fn, rows = self.models[i], self.losses[i], slice(bounds[i], bounds[i + 1])
            model.train(main.training)
            scores = model.forward(x[rows])                 # (B_k, K)
            correct = int((scores.argmax(axis=1) == y[rows]).sum())
            loss = loss_fn.forward(scores, y[rows])
            grad = loss_fn.backward()
            grad *= (rows.stop - rows.start) / n            # weight of this slice in the batch mean
            model.backward(grad, input_grad=False)
            return loss * (rows.stop - rows.start), correct

        results = self._run(slice_step, k) if k > 1 else [slice_step(0)]

        def add_grads(i):                                   # main's gradient += the replicas'
            s = self.grad_slices[i]
            total = main.flat.grad[s]
            for twin in self.models[1:k]:
                total += twin.flat.grad[s]

        if k > 1:
            self._run(add_grads, self.k)
        self.optimizer.begin_step()
        if k > 1:
            self._run(lambda i: self.optimizer.update_chunks(range(i, self.n_chunks, self.k)), self.k)
        else:
            self.optimizer.update_chunks(range(self.n_chunks))
        return sum(r[0] for r in results), sum(r[1] for r in results)


def _even_slices(n: int, k: int) -> list[slice]:
    bounds = np.linspace(0, n, k + 1).astype(int)
    return [slice(bounds[i], bounds[i + 1]) for i in range(k)]
