"""scratchml.nn vs PyTorch (CPU): the same MLP, data, batches, optimizer and schedule, timed in one run.

Both sides train the default recipe's network (784 → hidden → hidden → 10, ReLU, float32) from
the *same initial weights* on all 60,000 training images, with the same shuffled batch order, the
same optimizer (the recipe's: AdamW, weight decay on the weight matrices only), linear warm-up then
cosine decay, label smoothing and an exponential moving average of the weights — then both score
the 10,000 test images. Only the training loops are timed. The last line of output is a JSON object:

    ours_s, torch_s, ratio = ours_s / torch_s (< 1: we are faster), both test accuracies,
    ours_runs_s and torch_runs_s (with --rounds N, each side trains N times, alternating which goes
    first, and ours_s / torch_s are the medians: this machine's speed drifts over minutes),
    ours_gflops (useful matmul FLOPs / ours_s) next to numpy_matmul_gflops (one float32 matmul
    of the network's biggest layer, measured here: the ceiling for a NumPy implementation) and
    torch_matmul_gflops (the same product in PyTorch, whose MKL is the other side's ceiling).

Usage: SCRATCHML_DATA=... python benchmarks/mnist_vs_torch.py [--epochs N] [--rounds N]
"""

import argparse
import json
import os
import statistics
import time

import scratchml  # noqa: F401  (first: it sets OpenBLAS's thread spin time before NumPy loads it)

# isort: split
import numpy as np
import torch

from scratchml import nn
from scratchml.mnist import data
from scratchml.mnist.recipe import Recipe, build_model, make_optimizer, make_schedule


def train_flops(hidden: list[int], n_examples: int, epochs: int) -> float:
    """Matmul FLOPs of training: forward 2·I·O per example per layer, backward dW the same, and
    dX the same except for the first layer (the input needs no gradient)."""
    sizes = [784, *hidden, 10]
    per_example = sum(2 * i * o * (2 if k == 0 else 3) for k, (i, o) in enumerate(zip(sizes, sizes[1:])))
    return per_example * n_examples * epochs


def matmul_gflops(batch: int, width: int, library: str, seconds: float = 1.0) -> float:
    """Throughput of one float32 (batch, width) @ (width, width) product — the biggest layer's."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, width), dtype=np.float32)
    b = rng.standard_normal((width, width), dtype=np.float32)
    out = np.empty((batch, width), np.float32)
    if library == "numpy":
        def product():
            np.dot(a, b, out=out)
    else:
        at, bt, outt = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)

        def product():
            torch.mm(at, bt, out=outt)
    product()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        product()
        runs += 1
    return 2 * batch * width * width * runs / (time.perf_counter() - start) / 1e9


def build_initial(r: Recipe) -> list:
    """The recipe's initial weights (W, b per layer), as ``train_ours`` starts from them."""
    return [p.data.copy() for layer in build_model(r.hidden, seed=r.seed).layers for p in layer.parameters()]


def train_ours(r: Recipe, x, y, x_test, y_test):
    model = build_model(r.hidden, seed=r.seed)
    optimizer = make_optimizer(r, model)
    steps_per_epoch = -(-len(x) // r.batch_size)
    start = time.perf_counter()
    nn.fit(model, nn.SoftmaxCrossEntropy(r.label_smoothing), optimizer, x, y, epochs=r.epochs,
           batch_size=r.batch_size, schedule=make_schedule(r, steps_per_epoch),
           ema=nn.EMA(model, r.ema) if r.ema else None, seed=r.seed, progress=False)
    seconds = time.perf_counter() - start
    return seconds, nn.evaluate(model, x_test, y_test)[1]


def torch_mlp(hidden: list[int]) -> torch.nn.Sequential:
    """The recipe's network in PyTorch: 784 → hidden… → 10, ReLU between the layers."""
    sizes = [784, *hidden, 10]
    layers = []
    for i, o in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def train_torch(r: Recipe, x, y, x_test, y_test, initial):
    torch.manual_seed(r.seed)
    model = torch_mlp(r.hidden)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():                                   # the same starting point as ours
        for m, (w, b) in zip(linears, zip(initial[0::2], initial[1::2])):
            m.weight.copy_(torch.from_numpy(w.T.copy()))
            m.bias.copy_(torch.from_numpy(b))
    groups = [{"params": [m.weight for m in linears]},
              {"params": [m.bias for m in linears], "weight_decay": 0.0}]
    optimizer = {"adamw": lambda: torch.optim.AdamW(groups, lr=r.lr, weight_decay=r.weight_decay),
                 "adam": lambda: torch.optim.Adam(groups, lr=r.lr, weight_decay=r.weight_decay),
                 "sgd": lambda: torch.optim.SGD(groups, lr=r.lr, momentum=0.9, nesterov=True,
                                                weight_decay=r.weight_decay)}[r.optimizer]()
    params = list(model.parameters())
    average = [p.detach().clone() for p in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps_per_epoch = -(-len(x) // r.batch_size)
    schedule = make_schedule(r, steps_per_epoch)
    rng = np.random.default_rng(r.seed)                     # the same batch order as nn.fit
    t = 0
    start = time.perf_counter()
    for _ in range(r.epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), r.batch_size):
            idx = order[i:i + r.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = schedule(t)
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx],
                                                     label_smoothing=r.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if r.ema:
                d = min(r.ema, (1 + t) / (10 + t))
                with torch.no_grad():
                    torch._foreach_lerp_(average, [p.detach() for p in params], 1 - d)
            t += 1
    seconds = time.perf_counter() - start
    with torch.no_grad():
        if r.ema:
            for p, a in zip(params, average):
                p.copy_(a)
        accuracy = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    return seconds, float(accuracy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=Recipe().epochs)
    parser.add_argument("--rounds", type=int, default=1,
                        help="train each side this many times, alternating which goes first, and report "
                             "the medians: this machine's speed drifts over minutes")
    args = parser.parse_args()
    r = Recipe(epochs=args.epochs, val_size=0)
    x, y = data.load("train")
    x_test, y_test = data.load("test")
    print(f"training {r.epochs} epochs of 784-{'-'.join(map(str, r.hidden))}-10, batch {r.batch_size}, "
          f"AdamW; torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    initial = build_initial(r)                              # both sides start from these weights
    ours_runs, torch_runs = [], []
    for k in range(args.rounds):
        for side in ("ours", "torch") if k % 2 == 0 else ("torch", "ours"):
            if side == "ours":
                seconds, ours_acc = train_ours(r, x, y, x_test, y_test)
                ours_runs.append(seconds)
                print(f"scratchml: {seconds:.1f} s, test accuracy {ours_acc:.4f}", flush=True)
            else:
                seconds, torch_acc = train_torch(r, x, y, x_test, y_test, initial)
                torch_runs.append(seconds)
                print(f"pytorch:   {seconds:.1f} s, test accuracy {torch_acc:.4f}", flush=True)
    ours_s, torch_s = statistics.median(ours_runs), statistics.median(torch_runs)
    flops = train_flops(r.hidden, len(x), r.epochs)
    print(json.dumps({
        "ours_s": round(ours_s, 2), "torch_s": round(torch_s, 2), "ratio": round(ours_s / torch_s, 3),
        "ours_runs_s": [round(t, 2) for t in ours_runs], "torch_runs_s": [round(t, 2) for t in torch_runs],
        "ours_test_accuracy": ours_acc, "torch_test_accuracy": torch_acc,
        "ours_gflops": round(flops / ours_s / 1e9, 1),
        "numpy_matmul_gflops": round(matmul_gflops(r.batch_size, max(r.hidden), "numpy"), 1),
        "torch_matmul_gflops": round(matmul_gflops(r.batch_size, max(r.hidden), "torch"), 1),
        "epochs": r.epochs, "hidden": r.hidden, "batch_size": r.batch_size, "optimizer": r.optimizer,
        "load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
