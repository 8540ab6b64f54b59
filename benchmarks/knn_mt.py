"""kNN-MT against the same translator without retrieval, on the same sentences, in one run.

    python benchmarks/knn_mt.py [--testset tatoeba-unseen] [--beam 4] [--limit N] [--datastore DIR]
    python benchmarks/knn_mt.py --domain newstest2013     # datastore: the first 1,500 pairs; test: the rest
    python benchmarks/knn_mt.py --tune [--limit 600]     # the settings grid on the validation split
    python benchmarks/knn_mt.py --domains --sigma 30 60 100   # σ on the validation splits of both domains

The datastore is the model's cached one (its Tatoeba training pairs,
scratchml/translate/datastore.py) unless ``--domain`` builds one from the first half of a test set
and scores the second half: domain adaptation with a few in-domain translations and no training.
``--tune`` decodes the held-out Tatoeba validation pairs (absent from the datastore), changing one
setting of the grid at a time (twice round, keeping the best value of each) and printing each BLEU:
how the defaults of ``KNNSettings`` were chosen. ``--domains`` checks settings on text unlike the
datastore: for each σ, the BLEU gain on the Tatoeba validation split, on 1,000 pairs of the News
Commentary validation split with the Tatoeba datastore, and on the same pairs with a datastore of
the other half of that split (a domain's own translations). The last line is JSON: both BLEU and
chrF scores, the gain, sentences per second of each and the datastore's size.
"""

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace

import numpy as np
import sacrebleu

from scratchml.retrieve.knn import KNNSettings
from scratchml.translate import Translator
from scratchml.translate.corpus import load_testset, validation_pairs
from scratchml.translate.datastore import build, load_or_build
from scratchml.translate.knn import KNN

GRID = {"temperature": [3.0, 10.0, 30.0, 100.0], "sigma": [3.0, 10.0, 30.0, 100.0], "lambda_max": [0.3, 0.5, 0.7, 0.9],
        "k": [4, 16, 64]}


def score(hyps, refs) -> tuple[float, float]:
    return round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2), round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def median_nearest(knn) -> float:
    """The median distance to the nearest key, over every hypothesis at every step of a recorded run."""
    d1 = np.concatenate([step["neighbours"].distances[:, 0] for step in knn.trace])
    return round(float(np.median(d1[np.isfinite(d1)])), 1)


def store_bytes(ds) -> int:
    return sum(f.stat().st_size for f in ds.path.rglob("*") if f.is_file())


def across_domains(tr, args, settings, sigmas) -> None:
    news = validation_pairs("news")
    half = len(news) // 2
    tests = {"tatoeba": (load_or_build(tr, args.datastore), validation_pairs("tatoeba")),
             "news_with_tatoeba_store": (load_or_build(tr, args.datastore), news[half:half + 1000]),
             "news_with_news_store": (build(tr, "runs/knn/news-validation-first-half", news[:half]),
                                      news[half:half + 1000])}
    base = {name: score(tr.translate([en for en, _ in pairs], beam=args.beam), [es for _, es in pairs])[0]
            for name, (_, pairs) in tests.items()}
    print(json.dumps({"base_bleu": base}), flush=True)
    for sigma in sigmas:
        s = replace(settings, sigma=sigma)
        gains, nearest = {}, {}
        for name, (ds, pairs) in tests.items():
            knn = KNN(ds, s, record=True)
            hyps = tr.translate([en for en, _ in pairs], beam=args.beam, knn=knn)
            gains[name] = round(score(hyps, [es for _, es in pairs])[0] - base[name], 2)
            nearest[name] = median_nearest(knn)
        print(json.dumps({**asdict(s), "bleu_gain": gains, "median_nearest_distance": nearest}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--testset", default="tatoeba-unseen")
    parser.add_argument("--domain", default=None, help="a test set split in two: datastore, then test")
    parser.add_argument("--datastore", default=None)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--domains", action="store_true", help="the gain of each --sigma on both domains")
    defaults = KNNSettings()
    for name, value in asdict(defaults).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value,
                            nargs="+" if name == "sigma" else None)
    args = parser.parse_args()
    sigmas = args.sigma if isinstance(args.sigma, list) else [args.sigma]
    settings = KNNSettings(**{k: getattr(args, k) for k in asdict(defaults) if k != "sigma"}, sigma=sigmas[0])
    tr = Translator.load(args.model)
    if args.domains:
        return across_domains(tr, args, settings, sigmas)

    if args.domain:
        src, refs = load_testset(args.domain)
        half = len(src) // 2
        ds = build(tr, f"runs/knn/{args.domain}-first-half", list(zip(src[:half], refs[:half])))
        src, refs = src[half:], refs[half:]
        name = f"{args.domain} (second half; datastore: the first {half} pairs)"
    elif args.tune:
        pairs = validation_pairs("tatoeba")
        src, refs = [en for en, _ in pairs], [es for _, es in pairs]
        ds, name = load_or_build(tr, args.datastore), "Tatoeba validation split"
    else:
        src, refs = load_testset(args.testset)
        ds, name = load_or_build(tr, args.datastore), args.testset
    if args.limit:
        src, refs = src[:args.limit], refs[:args.limit]

    base, base_s = timed(lambda: tr.translate(src, beam=args.beam, progress=True))
    base_bleu, base_chrf = score(base, refs)
    if args.tune:  # one setting at a time, keeping the best of each, twice over
        seen = {}

        def tried(s):
            if s not in seen:
                seen[s] = score(tr.translate(src, beam=args.beam, knn=KNN(ds, s)), refs)[0]
                print(json.dumps({**asdict(s), "bleu": seen[s], "gain": round(seen[s] - base_bleu, 2)}),
                      file=sys.stderr, flush=True)
            return seen[s]

        for _, (name_, values) in itertools.product(range(2), GRID.items()):
            settings = max((replace(settings, **{name_: v}) for v in values), key=tried)
    knn = KNN(ds, settings, record=True)
    knn_hyps, knn_s = timed(lambda: tr.translate(src, beam=args.beam, progress=True, knn=knn))
    knn_bleu, knn_chrf = score(knn_hyps, refs)
    changed = [i for i in range(len(src)) if base[i] != knn_hyps[i]]
    for i in changed[:5]:
        print(f"EN:  {src[i]}\n  base: {base[i]}\n  kNN:  {knn_hyps[i]}\n  ref:  {refs[i]}", file=sys.stderr)
    print(json.dumps({"testset": name, "sentences": len(src), "beam": args.beam, "settings": asdict(settings),
                      "base_bleu": base_bleu, "knn_bleu": knn_bleu, "bleu_gain": round(knn_bleu - base_bleu, 2),
                      "base_chrf": base_chrf, "knn_chrf": knn_chrf, "changed_sentences": len(changed),
                      "base_sentences_per_s": round(len(src) / base_s, 2),
                      "knn_sentences_per_s": round(len(src) / knn_s, 2), "speed_ratio": round(base_s / knn_s, 3),
                      "median_nearest_distance": median_nearest(knn),
                      "datastore_entries": len(ds), "datastore_bytes": store_bytes(ds)}))


if __name__ == "__main__":
    main()
