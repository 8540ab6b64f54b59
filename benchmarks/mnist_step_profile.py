"""Where one training step of the default MNIST network spends its time, phase by phase, next to
PyTorch's step on the same batches.

Runs the recipe's forward pass, loss, backward pass and optimizer step by hand (the same calls
``nn.fit`` makes) on real MNIST batches, timing each phase separately, and prints milliseconds per
step for each. Then PyTorch trains the same network (AdamW, the same batches): its step time, and,
under ``torch.profiler``, the time of its matrix products (``aten::mm`` and ``aten::addmm``, bias
adds included as ours are). The last line of output is a JSON object with those figures.

Usage: SCRATCHML_DATA=... python benchmarks/mnist_step_profile.py [--steps N]
"""

import argparse
import json
import time
from collections import defaultdict

import scratchml  # noqa: F401  (first: it sets OpenBLAS's thread spin time before NumPy loads it)

# isort: split
import numpy as np

from scratchml import nn
from scratchml.mnist import data
from scratchml.mnist.recipe import Recipe, build_model, make_optimizer


def products_ms(ms: dict[str, float]) -> float:
    """Our matrix products: the Linear layers' forward and backward, bias adds and sums included."""
    return sum(v for k, v in ms.items() if k.endswith("Linear"))


def torch_step(r: Recipe, x, y, order, args) -> tuple[float, float]:
    """PyTorch on the same batches: (ms per step, ms of matrix products per step under the profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mnist_vs_torch import torch_mlp  # this folder is on sys.path when the script runs

    torch.manual_seed(r.seed)
    model = torch_mlp(r.hidden)
    weights = [p for p in model.parameters() if p.dim() == 2]
    biases = [p for p in model.parameters() if p.dim() == 1]
    optimizer = torch.optim.AdamW([{"params": weights}, {"params": biases, "weight_decay": 0.0}],
                                  lr=r.lr, weight_decay=r.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batches = len(x) // r.batch_size

    def step(k):
        idx = torch.from_numpy(order[(k % batches) * r.batch_size:(k % batches + 1) * r.batch_size])
        loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx], label_smoothing=r.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for k in range(args.warmup):
        step(k)
    start = time.perf_counter()
    for k in range(args.steps):
        step(k)
    total = (time.perf_counter() - start) * 1e3 / args.steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(args.steps):
            step(k)
    products = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm"))
    return total, products / 1e3 / args.steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    args = parser.parse_args()
    r = Recipe(val_size=0)
    x, y = data.load("train")
    model, loss_fn = build_model(r.hidden, seed=r.seed), nn.SoftmaxCrossEntropy(r.label_smoothing)
    optimizer = make_optimizer(r, model)
    order = np.random.default_rng(r.seed).permutation(len(x))
    xb = np.empty((r.batch_size, x.shape[1]), x.dtype)
    ms: dict[str, float] = defaultdict(float)

    def timed(name, start):
        now = time.perf_counter()
        ms[name] += (now - start) * 1e3
        return now

    batches = len(x) // r.batch_size
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            ms.clear()
        t = time.perf_counter()
        idx = order[(step % batches) * r.batch_size:(step % batches + 1) * r.batch_size]
        np.take(x, idx, axis=0, out=xb)
        t = timed("gather batch", t)
        h = xb
        for i, layer in enumerate(model.layers):
            h = layer.forward(h)
            t = timed(f"forward {i} {type(layer).__name__}", t)
        loss_fn.forward(h, y[idx])
        grad = loss_fn.backward()
        t = timed("loss", t)
        for i in range(len(model.layers) - 1, -1, -1):
            grad = model.layers[i].backward(grad, input_grad=i > 0)
            t = timed(f"backward {i} {type(model.layers[i]).__name__}", t)
        optimizer.step()
        timed(f"{r.optimizer} step", t)
    per_step = {k: round(v / args.steps, 2) for k, v in ms.items()}
    for k, v in per_step.items():
        print(f"{k:24s} {v:7.2f} ms")
    total = round(sum(per_step.values()), 2)
    ours_products = round(products_ms(per_step), 2)
    print(f"{'total':24s} {total:7.2f} ms (matrix products {ours_products:.2f} ms)")
    torch_total, torch_products = torch_step(r, x, y, order, args)
    print(f"{'pytorch total':24s} {torch_total:7.2f} ms (matrix products {torch_products:.2f} ms, under the profiler)")
    print(json.dumps({"ms_per_step": per_step, "total_ms": total, "products_ms": ours_products,
                      "torch_total_ms": round(torch_total, 2), "torch_products_ms": round(torch_products, 2),
                      "steps": args.steps, "hidden": r.hidden, "batch_size": r.batch_size}))


if __name__ == "__main__":
    main()
