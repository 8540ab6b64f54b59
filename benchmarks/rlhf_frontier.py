"""Ground-truth reward against KL to π_ref: PPO, DPO and best-of-n on the same IMDb test prefixes, in one run.

Every policy continues the same held-out prefixes (the first 2-8 tokens of IMDb *test* reviews, never
trained on) with up to 48 new tokens, sampled at temperature 1, and is scored as ``scratchml rlhf eval``
scores it: the ground-truth classifier's positive rate, the reward model's mean reward, the sequence KL
to π_ref in nats, the perplexity of the continuations under π_ref and distinct bigrams. Best-of-n draws
n samples of π_ref per prefix once, for the largest n, and reads every smaller n off the first draws;
its KL is the analytic log n − (n − 1)/n.

Writes the table (markdown) to stdout, the plot to ``--plot``, and, last, one JSON line with every row.
Usage: ``python benchmarks/rlhf_frontier.py --policies runs/ppo/model runs/dpo/model [--best-of 64]``
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from scratchml.llm import checkpoint
from scratchml.rlhf import reward
from scratchml.rlhf.evaluate import best_of, best_of_n_kl, draws_for_best_of_n, evaluate, sample_all
from scratchml.rlhf.prompts import review_prefixes
from scratchml.rlhf.sentiment import SentimentClassifier
from scratchml.shipped import model_dir
from scratchml.transformer.precision import use_bf16


def label(folder: Path) -> tuple[str, str]:
    """(method, setting) of a tuned policy, read from its config.json."""
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if "ppo" in meta:
        ppo = meta["ppo"]
        kind = f"KL target {ppo['target_kl']:g}" if ppo.get("adaptive_kl", True) else f"KL coef {ppo['init_kl_coef']:g}"
        return "PPO", kind
    if "dpo" in meta:
        return "DPO", f"β {meta['dpo']['beta']:g}"
    return "π_ref", "—"


def plot(rows: list[dict], png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"best-of-n": ("C0", "o-"), "PPO": ("C3", "s"), "DPO": ("C2", "^"), "π_ref": ("k", "*")}
    for method, (color, style) in styles.items():
        # best-of-1 is π_ref itself: the best-of-n curve starts there
        members = ("π_ref", "best-of-n") if method == "best-of-n" else (method,)
        pts = sorted((r for r in rows if r["method"] in members), key=lambda r: r["kl"])
        if not pts:
            continue
        for ax, key in ((a, "positive_rate"), (b, "mean_reward")):
            ax.plot([r["kl"] for r in pts], [r[key] for r in pts], style, color=color, label=method, ms=7)
            for r in pts:
                if r["method"] == method != "π_ref":
                    ax.annotate(r["setting"], (r["kl"], r[key]), fontsize=7, xytext=(4, -9),
                                textcoords="offset points")
    a.set_ylabel("positive rate (ground-truth classifier)")
    b.set_ylabel("mean reward (reward model, π_ref = 0)")
    for ax in (a, b):
        ax.set_xlabel("KL(π ‖ π_ref), nats per continuation")
        ax.grid(alpha=.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policies", nargs="*", default=[], help="tuned policy folders (PPO or DPO)")
    parser.add_argument("--best-of", type=int, default=64, help="largest n of best-of-n (powers of 2 up to it)")
    parser.add_argument("--prefixes", type=int, default=1000)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", help="default: the shipped gpt-imdb")
    parser.add_argument("--reward-model", help="default: the shipped gpt-imdb-reward")
    parser.add_argument("--classifier", help="default: the shipped imdb-sentiment")
    parser.add_argument("--plot", default="docs/img/rlhf_frontier.png")
    args = parser.parse_args()

    reference, tokenizer, _ = checkpoint.load(model_dir("gpt-imdb", args.reference))
    reward_model, _, _ = reward.load(model_dir("gpt-imdb-reward", args.reward_model))
    classifier = SentimentClassifier.load(model_dir("imdb-sentiment", args.classifier))
    prompts = review_prefixes("test", args.prefixes, tokenizer, reference.cfg.eot_id, args.seed)
    bf16 = use_bf16(torch.device("cpu"), None)
    rows = []

    def add(method, setting, result, seconds):
        row = {"method": method, "setting": setting, **{k: round(v, 4) if isinstance(v, float) else v
                                                        for k, v in result.items()}, "seconds": round(seconds, 1)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    start = time.perf_counter()
    draws, scores = draws_for_best_of_n(reference, tokenizer, reward_model, prompts, args.best_of,
                                        args.max_new_tokens, args.seed, progress=True)
    sample_seconds = time.perf_counter() - start
    n = 1
    while n <= args.best_of:
        t = time.perf_counter()
        result = evaluate(best_of(draws, scores, n), None, reference, reward_model, classifier, tokenizer, bf16,
                          kl=best_of_n_kl(n))
        add("best-of-n" if n > 1 else "π_ref", f"n={n}" if n > 1 else "—", result,
            sample_seconds * n / args.best_of + time.perf_counter() - t)
        n *= 2
    for folder in map(Path, args.policies):
        t = time.perf_counter()
        policy, _, _ = checkpoint.load(folder)
        method, setting = label(folder)
        rollout = sample_all(policy, tokenizer, prompts, args.max_new_tokens, args.seed)
        add(method, setting, evaluate(rollout, policy, reference, reward_model, classifier, tokenizer, bf16),
            time.perf_counter() - t)

    print("| method | setting | KL (nats) | positive rate | mean reward | perplexity under π_ref | distinct-2 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['method']} | {r['setting']} | {r['kl']:.2f} | {r['positive_rate']:.3f} | {r['mean_reward']:.2f} "
              f"| {r['ppl_ref']:.1f} | {r['distinct2']:.3f} |")
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(rows, Path(args.plot))
    print(json.dumps({"prefixes": args.prefixes, "max_new_tokens": args.max_new_tokens, "rows": rows}))


if __name__ == "__main__":
    main()
