"""Byte-level BPE, vocabulary 10,000, on both sides of en-es/spa.txt: ours vs HF tokenizers vs sentencepiece.

Measures, in one run:
- training time: ours (pure Python), HF ``BpeTrainer`` with the ByteLevel pre-tokenizer, and
  sentencepiece BPE (byte fallback on, so its 10,000 also include the 256 bytes); ratio = ours / HF;
- encoding throughput (MB of UTF-8 per second) over all 237,928 sentences, cold cache, with OUR
  vocabulary in our encoder, in HF tokenizers (our ``tokenizer.json`` export) and in tiktoken (our
  export); the ids of all three are checked to be identical; and the same over the whole corpus
  joined into one string (no per-call overhead);
- quality: tokens per word (whitespace-separated) on held-out sentences: WMT newstest2013 (news,
  out of domain) and the Tatoeba test sentences that do not occur in spa.txt (in domain).

HF tokenizers trains and batch-encodes on all cores; tiktoken is timed one text at a time (its
threaded ``encode_batch`` is slower on short sentences); ours runs on one core. The machine is
shared: "cpus" and the load averages go in the JSON. The last stdout line is the JSON object.

Usage: ``python benchmarks/bpe_vs_hf.py [--repeats 3]`` (each time is the best of the repeats).
"""

import argparse
import io
import json
import os
import time

import sentencepiece as spm
import tiktoken  # noqa: F401  (fail early when the dev extra is missing)
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from scratchml.bpe import Tokenizer
from scratchml.bpe.export import to_hf, to_tiktoken
from scratchml.data import fetch

VOCAB = 10_000
SPECIALS = ["<pad>", "<bos>", "<eos>"]


def best_time(fn, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def train_hf(texts):
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def train_sp(texts):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, model_type="bpe",
                                   vocab_size=VOCAB, byte_fallback=True, character_coverage=1.0,
                                   minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def held_out(train_texts):
    """{"en": [...], "es": [...]} per test set; Tatoeba sentences seen in training are removed."""
    seen = set(train_texts)
    sets = {}
    for name, stem in [("newstest2013", "newstest2013"), ("tatoeba_unseen", "tatoeba-test-v2020-07-28")]:
        en = fetch("en-es-test", f"{stem}.eng").read_text(encoding="utf-8").splitlines()
        es = fetch("en-es-test", f"{stem}.spa").read_text(encoding="utf-8").splitlines()
        sets[name] = {"en": [s for s in en if s not in seen], "es": [s for s in es if s not in seen]}
    return sets


def tokens_per_word(count, texts):
    return round(sum(count(s) for s in texts) / sum(len(s.split()) for s in texts), 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="best of this many runs per timing")
    args = ap.parse_args()
    load_before = os.getloadavg()

    lines = fetch("en-es", "spa.txt").read_text(encoding="utf-8").splitlines()
    texts = [s for line in lines for s in line.split("\t")]
    mb = sum(len(s.encode("utf-8")) for s in texts) / 1e6
    print(f"{len(texts)} sentences, {mb:.2f} MB; load average {load_before}", flush=True)

    t_ours, ours = best_time(lambda: Tokenizer.train(texts, VOCAB, SPECIALS, progress=False), args.repeats)
    print(f"train ours {t_ours:.2f} s", flush=True)
    t_hf, hf_trained = best_time(lambda: train_hf(texts), args.repeats)
    print(f"train HF   {t_hf:.2f} s", flush=True)
    t_sp, sp = best_time(lambda: train_sp(texts), args.repeats)
    print(f"train sentencepiece {t_sp:.2f} s", flush=True)

    # Encoding speed, same vocabulary (ours) in three encoders, cold caches.
    def fresh():
        return Tokenizer(ours.merges, list(ours.special_tokens), ours.pattern)
    hf_ours = tokenizers.Tokenizer.from_str(json.dumps(to_hf(ours)))
    tt_ours = to_tiktoken(ours)
    e_ours, ids_ours = best_time(lambda: fresh().encode_batch(texts), args.repeats)
    e_hf, ids_hf = best_time(lambda: [e.ids for e in hf_ours.encode_batch(texts, add_special_tokens=False)],
                             args.repeats)
    # tiktoken one text at a time: its threaded encode_batch costs more than it saves on short sentences.
    e_tt, ids_tt = best_time(lambda: [tt_ours.encode(s, allowed_special="all") for s in texts], args.repeats)
    identical = ids_ours == ids_hf == ids_tt
    # The same bytes as one long text: per-call overheads vanish, the raw encoder speed shows.
    doc = "\n".join(texts)
    l_ours, _ = best_time(lambda: fresh().encode(doc), args.repeats)
    l_hf, _ = best_time(lambda: hf_ours.encode(doc, add_special_tokens=False), args.repeats)
    l_tt, _ = best_time(lambda: tt_ours.encode(doc, allowed_special="all"), args.repeats)
    print(f"encode MB/s: ours {mb / e_ours:.2f}, HF {mb / e_hf:.2f}, tiktoken {mb / e_tt:.2f}; "
          f"ids identical: {identical}; one long text: ours {mb / l_ours:.2f}, HF {mb / l_hf:.2f}, "
          f"tiktoken {mb / l_tt:.2f}", flush=True)

    quality = {}
    for name, langs in held_out(texts).items():
        for lang, sents in langs.items():
            quality[f"{name}_{lang}"] = {
                "sentences": len(sents),
                "ours": tokens_per_word(lambda s: len(ours.encode(s)), sents),
                "hf_bpe": tokens_per_word(lambda s: len(hf_trained.encode(s, add_special_tokens=False).ids), sents),
                "sentencepiece_bpe": tokens_per_word(lambda s: len(sp.encode(s)), sents),
            }
            print(f"tokens/word {name} {lang}: {quality[f'{name}_{lang}']}", flush=True)

    print(json.dumps({
        "benchmark": "bpe_vs_hf", "vocab_size": VOCAB, "sentences": len(texts), "megabytes": round(mb, 3),
        "train_seconds": {"ours": round(t_ours, 3), "hf": round(t_hf, 3), "sentencepiece": round(t_sp, 3)},
        "ratio": round(t_ours / t_hf, 3), "target_ratio": 3.0,
        "encode_mb_per_s": {"ours": round(mb / e_ours, 3), "hf": round(mb / e_hf, 3),
                            "tiktoken": round(mb / e_tt, 3)},
        "encode_mb_per_s_one_long_text": {"ours": round(mb / l_ours, 3), "hf": round(mb / l_hf, 3),
                                          "tiktoken": round(mb / l_tt, 3)},
        "ids_identical_ours_hf_tiktoken": identical,
        "tokens_per_word": quality,
        "repeats": args.repeats, "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
