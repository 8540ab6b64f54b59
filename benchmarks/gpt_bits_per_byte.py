"""Bits per byte of our GPT on held-out IMDb reviews, against general-purpose compressors, in one run.

The text: the 2,500 IMDb *test* reviews whose id is divisible by 10 (never trained on), each ``<br />``
replaced by a newline and nothing else changed. The model scores them as ``scratchml llm score --jsonl``
does — the command itself runs, on a JSON-lines file of the reviews — so each review is one document,
predicted from the end-of-text token on. The compressors get the same reviews joined by blank lines,
at their strongest settings: ``gzip -9``, ``xz -9e`` and ``zstd -19`` (each skipped if not installed).
A compressor's bits per byte is 8 × compressed size / text size; the model's is the length of the
arithmetic code its probabilities would give, so the two compare directly.

The last stdout line is one JSON object.
Usage: ``python benchmarks/gpt_bits_per_byte.py [--model models/gpt-imdb] [--jsonl FILE]``
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratchml.llm.imdb import scoring_reviews

COMPRESSORS = {"gzip -9": ["gzip", "-9", "-c"], "xz -9e": ["xz", "-9e", "-c"], "zstd -19": ["zstd", "-19", "-c", "-q"]}


def compressed_bits_per_byte(text: bytes) -> dict:
    out = {}
    for name, command in COMPRESSORS.items():
        if shutil.which(command[0]) is None:
            print(f"{command[0]} is not installed: skipped", file=sys.stderr)
            continue
        size = len(subprocess.run(command, input=text, capture_output=True, check=True).stdout)
        out[name] = 8 * size / len(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a model folder (default: the shipped models/gpt-imdb)")
    parser.add_argument("--jsonl", default=None, help="also keep the reviews' JSON-lines file here")
    args = parser.parse_args()

    texts = [r.text for r in scoring_reviews()]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.jsonl or Path(tmp) / "imdb-test-2500.jsonl")
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        command = [sys.executable, "-m", "scratchml.cli.main", "llm", "score", "--jsonl", str(path)]
        if args.model:
            command[5:5] = ["--model", args.model]
        print("$", " ".join(command[1:]), file=sys.stderr)
        start = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        ours = json.loads(done.stdout.strip().splitlines()[-1])
        seconds = time.perf_counter() - start

    references = compressed_bits_per_byte("\n\n".join(texts).encode("utf-8"))
    best_name = min(references, key=references.get) if references else None
    result = {"reviews": len(texts), "bytes": ours["bytes"], "tokens": ours["tokens"],
              "gpt_bits_per_byte": round(ours["bits_per_byte"], 4), "gpt_seconds": round(seconds, 1),
              **{f"{name}_bits_per_byte": round(v, 4) for name, v in references.items()}}
    if best_name:
        result["best_compressor"] = best_name
        result["ratio_to_best_compressor"] = round(ours["bits_per_byte"] / references[best_name], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
