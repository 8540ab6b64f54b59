"""kNN-LM against the same GPT without retrieval: bits per byte on the same reviews, in one run.

    python benchmarks/knn_lm.py [--tokens 4000000] [--limit N]
    python benchmarks/knn_lm.py --tune [--limit 300]     # the settings grid on held-out training reviews

The text is the evaluation text of docs/llm.md: the 2,500 IMDb test reviews whose id is divisible by
10, one document each. The datastore holds the first ``--tokens`` tokens of the GPT's training text
(scratchml/llm/knn.py), built once and cached. ``--tune`` scores the GPT's validation reviews (held
out of training and of the datastore) with each setting of a small grid, one setting at a time,
keeping the best: how the defaults were chosen. The last line is JSON with both figures, the
relative gain, tokens per second of each and the datastore's size.
"""

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace

from scratchml.llm import checkpoint
from scratchml.llm.config import TrainConfig
from scratchml.llm.imdb import scoring_reviews, training_texts
from scratchml.llm.knn import DEFAULT_TOKENS, KNNLM, LM_SETTINGS, load_or_build
from scratchml.llm.score import bits_per_byte
from scratchml.shipped import model_dir

GRID = {"temperature": [1.0, 3.0, 10.0, 30.0], "lambda_max": [0.1, 0.25, 0.4, 0.6], "sigma": [1e9, 100.0, 30.0, 10.0],
        "k": [8, 32]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="training tokens in the datastore")
    parser.add_argument("--datastore", default=None)
    parser.add_argument("--limit", type=int, default=0, help="only the first N reviews")
    parser.add_argument("--tune", action="store_true")
    args = parser.parse_args()
    model, tokenizer, _ = checkpoint.load(model_dir("gpt-imdb", args.model))
    ds = load_or_build(model, tokenizer, args.datastore, args.tokens)
    if args.tune:
        docs, name = training_texts(TrainConfig().valid_fraction)[1], "validation reviews"
    else:
        docs, name = [r.text for r in scoring_reviews()], "IMDb test reviews with id divisible by 10"
    docs = docs[:args.limit] if args.limit else docs

    start = time.perf_counter()
    base = bits_per_byte(model, tokenizer, docs, progress=True)
    base_s = time.perf_counter() - start
    settings = LM_SETTINGS
    if args.tune:
        seen = {}

        def tried(s):
            if s not in seen:
                seen[s] = bits_per_byte(model, tokenizer, docs, knn=KNNLM(ds, s))["bits_per_byte"]
                print(json.dumps({**asdict(s), "bits_per_byte": round(seen[s], 4)}), file=sys.stderr, flush=True)
            return seen[s]

        for _, (key, values) in itertools.product(range(2), GRID.items()):
            settings = min((replace(settings, **{key: v}) for v in values), key=tried)
    start = time.perf_counter()
    knn = bits_per_byte(model, tokenizer, docs, progress=True, knn=KNNLM(ds, settings))
    knn_s = time.perf_counter() - start
    size = sum(f.stat().st_size for f in ds.path.rglob("*") if f.is_file())
    print(json.dumps({"text": name, "documents": len(docs), "tokens": base["tokens"], "bytes": base["bytes"],
                      "settings": asdict(settings), "base_bits_per_byte": round(base["bits_per_byte"], 4),
                      "knn_bits_per_byte": round(knn["bits_per_byte"], 4),
                      "relative_gain": round(1 - knn["bits_per_byte"] / base["bits_per_byte"], 4),
                      "base_tokens_per_s": round(base["tokens"] / base_s, 1),
                      "knn_tokens_per_s": round(base["tokens"] / knn_s, 1),
                      "datastore_entries": len(ds), "datastore_bytes": size}))


if __name__ == "__main__":
    main()
