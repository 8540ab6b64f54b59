"""The quality and speed claim of ``scratchml mnist train``: its defaults, run for several seeds.

Each seed runs the real command in a fresh process and is timed from start to exit (wall clock:
imports, data loading, training, test evaluation, figures). The last line of output is a JSON
object with the test accuracy per seed, its mean and (sample) standard deviation, and the wall
and training seconds per seed.

Usage: SCRATCHML_DATA=... python benchmarks/mnist_seeds.py [--seeds 0 1 2] [--out runs/seeds]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/seeds"))
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        out = args.out / f"seed{seed}"
        load = os.getloadavg()[0]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "scratchml.cli.main", "mnist", "train", "--seed", str(seed),
                        "--out", str(out), "--quiet"], check=True)
        wall = time.perf_counter() - start
        metrics = json.loads((out / "metrics.json").read_text())
        runs.append({"seed": seed, "test_accuracy": metrics["test_accuracy"], "wall_s": round(wall, 1),
                     "train_s": round(metrics["train_seconds"], 1), "load_before": round(load, 2)})
        print(json.dumps(runs[-1]), flush=True)
    accs = [r["test_accuracy"] for r in runs]
    print(json.dumps({
        "test_accuracy_mean": round(statistics.mean(accs), 5),
        "test_accuracy_std": round(statistics.stdev(accs), 5) if len(accs) > 1 else 0.0,
        "wall_s_max": max(r["wall_s"] for r in runs), "train_s_max": max(r["train_s"] for r in runs),
        "runs": runs}))


if __name__ == "__main__":
    main()
