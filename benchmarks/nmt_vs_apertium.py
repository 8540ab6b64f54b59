"""Our translator vs Apertium's rule-based English->Spanish system, on the same test sentences.

    python benchmarks/nmt_vs_apertium.py [--model models/en-es] [--testset tatoeba] [--beam 4] [--limit N]

Needs Apertium: apt-get install apertium apertium-eng-spa. Both outputs are scored by sacrebleu
(case-sensitive BLEU on detokenized text, chrF). Last line: JSON with ours_bleu, apertium_bleu,
ours_chrf, apertium_chrf and the difference ours - apertium (target >= 15 BLEU on Tatoeba-test).
"""

import argparse
import json
import shutil
import subprocess
import sys
import time

import sacrebleu

from scratchml.translate.corpus import load_testset
from scratchml.translate.translator import Translator


def apertium(sentences: list[str]) -> list[str]:
    if shutil.which("apertium") is None:
        sys.exit("apertium is not installed: apt-get install apertium apertium-eng-spa")
    # One sentence per line in and out; -u drops the '*' marks on unknown words.
    text = "\n".join(s.replace("\n", " ") for s in sentences) + "\n"
    out = subprocess.run(["apertium", "-u", "eng-spa"], input=text, capture_output=True, text=True, check=True)
    lines = out.stdout.split("\n")[:len(sentences)]
    if len(lines) != len(sentences):
        sys.exit(f"apertium returned {len(lines)} lines for {len(sentences)} sentences")
    return [" ".join(line.split()) for line in lines]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--testset", default="tatoeba", choices=["tatoeba", "newstest2013"])
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()

    sources, refs = load_testset(args.testset)
    if args.limit:
        sources, refs = sources[:args.limit], refs[:args.limit]
    start = time.time()
    theirs = apertium(sources)
    apertium_s = time.time() - start
    translator = Translator.load(args.model)
    start = time.time()
    ours = translator.translate(sources, beam=args.beam, progress=True)
    ours_s = time.time() - start

    def score(hyps):
        return (round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
                round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2))

    (ob, oc), (ab, ac) = score(ours), score(theirs)
    for i in range(3):
        print(f"EN: {sources[i]}\n  ours:     {ours[i]}\n  apertium: {theirs[i]}\n  ref:      {refs[i]}")
    print(json.dumps({
        "testset": args.testset, "sentences": len(sources), "beam": args.beam,
        "ours_bleu": ob, "apertium_bleu": ab, "ours_chrf": oc, "apertium_chrf": ac,
        "bleu_gain": round(ob - ab, 2), "ours_s": round(ours_s, 1), "apertium_s": round(apertium_s, 1),
    }))


if __name__ == "__main__":
    main()
