"""Our translator vs Apertium's rule-based English->Spanish system, on the same test sentences.

    python benchmarks/nmt_vs_apertium.py [--model models/en-es] [--testsets tatoeba-unseen,tatoeba]
                                         [--beam 4] [--limit N]

Needs Apertium: apt-get install apertium apertium-eng-spa. Both outputs are scored by sacrebleu
(case-sensitive BLEU on detokenized text, chrF). The test sets (scratchml/translate/corpus.py):
tatoeba-unseen (Tatoeba-test pairs absent from the training data), tatoeba-distant (of those, the
ones not within one word edit of a training sentence), tatoeba (all of it: most pairs overlap
training), newstest2013 (news). Last line: JSON with, for each test set, ours_bleu, apertium_bleu,
ours_chrf, apertium_chrf and bleu_gain = ours - apertium; the first test set's also at the top.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time

import sacrebleu

from scratchml.translate import Translator
from scratchml.translate.corpus import load_testset

TESTSETS = ["tatoeba-unseen", "tatoeba-distant", "tatoeba", "newstest2013"]


def apertium(sentences: list[str]) -> list[str]:
    if shutil.which("apertium") is None:
        sys.exit("apertium is not installed: apt-get install apertium apertium-eng-spa")
    # One sentence per paragraph in and out (-u drops the '*' marks on unknown words). A line break
    # alone is not a boundary to Apertium: lines without a closing mark ("thank you") get their words
    # moved across lines. A blank line between sentences is one.
    text = "\n\n".join(" ".join(s.split()) for s in sentences) + "\n"
    out = subprocess.run(["apertium", "-u", "eng-spa"], input=text, capture_output=True, text=True, check=True)
    lines = out.stdout.rstrip("\n").split("\n\n")
    if len(lines) != len(sentences):
        sys.exit(f"apertium returned {len(lines)} lines for {len(sentences)} sentences")
    return [" ".join(line.split()) for line in lines]


def compare(translator, testset: str, beam: int, limit: int) -> dict:
    sources, refs = load_testset(testset)
    if limit:
        sources, refs = sources[:limit], refs[:limit]
    start = time.time()
    theirs = apertium(sources)
    apertium_s = time.time() - start
    start = time.time()
    ours = translator.translate(sources, beam=beam, progress=True)
    ours_s = time.time() - start

    def score(hyps):
        return (round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
                round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2))

    (ob, oc), (ab, ac) = score(ours), score(theirs)
    for i in range(3):
        print(f"EN: {sources[i]}\n  ours:     {ours[i]}\n  apertium: {theirs[i]}\n  ref:      {refs[i]}")
    return {"testset": testset, "sentences": len(sources), "ours_bleu": ob, "apertium_bleu": ab,
            "ours_chrf": oc, "apertium_chrf": ac, "bleu_gain": round(ob - ab, 2),
            "ours_s": round(ours_s, 1), "apertium_s": round(apertium_s, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--testsets", default=",".join(TESTSETS), help="comma-separated, from " + ", ".join(TESTSETS))
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    testsets = args.testsets.split(",")
    unknown = set(testsets) - set(TESTSETS)
    if unknown:
        ap.error(f"unknown test sets {sorted(unknown)}; choose from {', '.join(TESTSETS)}")
    translator = Translator.load(args.model)
    results = [compare(translator, t, args.beam, args.limit) for t in testsets]
    print(json.dumps({**results[0], "beam": args.beam, "by_testset": {r["testset"]: r for r in results}}))


if __name__ == "__main__":
    main()
