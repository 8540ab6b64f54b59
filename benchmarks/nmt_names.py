"""Names the model has never seen: validation pairs renamed with invented names, translated by ours
and by Apertium in one run.

    python benchmarks/nmt_names.py [--model models/en-es] [--beam 4] [--seed 1] [--threads 0]

spa.txt's names are nearly all "Tom" and "Mary"; people and places in real text are not. Every pair of
the held-out validation split whose two sides share a name ("I saw Tom." / "Vi a Tom.") gets each such
name replaced, on both sides, by an invented one (scratchml/translate/names.py, with a seed of its own,
so the names are not the ones of `--name-swap` training). Scored: BLEU (sacrebleu) on the renamed pairs,
BLEU on the same pairs as written, and the share of invented names that appear in the translation.
Apertium copies a word it does not know, so it is the reference for the copying. Also: BLEU on the
whole validation split, on it and the renamed pairs pooled (one corpus), and the share of the names
that source and reference of Tatoeba-test share (a capitalized word after the first, not "I", written
the same in both) that the translation copies. Last line: JSON.
"""

import argparse
import json
import shutil

import regex
import sacrebleu
import torch

from nmt_vs_apertium import apertium
from scratchml.translate.corpus import load_pairs, load_testset, make_splits
from scratchml.translate.names import find_names, shared_names, swap_names
from scratchml.translate.translator import Translator


def _has_word(text: str, word: str) -> bool:
    return bool(regex.search(rf"(?<!\p{{L}}){word}(?!\p{{L}})", text))


def copied(hypotheses: list[str], names: list[set[str]]) -> float:
    """Share of the names that appear, as words, in their translation."""
    hits = sum(_has_word(h, n) for h, ns in zip(hypotheses, names) for n in ns)
    return hits / max(sum(map(len, names)), 1)


def test_names(sources: list[str], references: list[str]) -> list[set[str]]:
    """Per test pair, the capitalized words after the first (not "I") that the reference also has."""
    return [{w for w in regex.findall(r"\p{L}+", en)[1:] if w[0].isupper() and w != "I" and _has_word(es, w)}
            for en, es in zip(sources, references)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    valid = make_splits(load_pairs()).valid
    names = find_names(valid)
    written = [(en, es) for en, es in valid if shared_names(en, es, names)]
    renamed = swap_names(written, 1.0, seed=args.seed, names=names)
    invented = [set(regex.findall(r"\p{L}+", en)) - set(regex.findall(r"\p{L}+", old)) for (en, _), (old, _)
                in zip(renamed, written, strict=True)]
    translator = Translator.load(args.model)

    def bleu(hyps, pairs):
        return round(sacrebleu.corpus_bleu(hyps, [[es for _, es in pairs]]).score, 2)

    ours_written = translator.translate([en for en, _ in written], beam=args.beam, progress=True)
    ours = translator.translate([en for en, _ in renamed], beam=args.beam, progress=True)
    ours_valid = translator.translate([en for en, _ in valid], beam=args.beam, progress=True)
    test_sources, test_refs = load_testset("tatoeba")
    test_shared = test_names(test_sources, test_refs)
    ours_test = translator.translate(test_sources, beam=args.beam, progress=True)
    result = {"pairs": len(renamed), "names": sum(map(len, invented)), "beam": args.beam,
              "ours_written_bleu": bleu(ours_written, written), "ours_renamed_bleu": bleu(ours, renamed),
              "ours_copied": round(copied(ours, invented), 4),
              "ours_valid_bleu": bleu(ours_valid, valid),
              "ours_valid_and_renamed_bleu": bleu(ours_valid + ours, valid + renamed),
              "tatoeba_names": sum(map(len, test_shared)),
              "ours_tatoeba_copied": round(copied(ours_test, test_shared), 4)}
    if shutil.which("apertium"):
        theirs = apertium([en for en, _ in renamed])
        result.update(apertium_renamed_bleu=bleu(theirs, renamed), apertium_copied=round(copied(theirs, invented), 4))
    for i in range(0, len(renamed), max(len(renamed) // 4, 1)):
        print(f"EN: {renamed[i][0]}\n  ours: {ours[i]}\n  ref:  {renamed[i][1]}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
