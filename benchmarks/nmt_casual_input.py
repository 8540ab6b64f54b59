"""Typed input: Tatoeba-test sentences written as people type them into a box, translated with and
without normalization (scratchml/translate/normalize.py), and by Apertium, in one run.

    python benchmarks/nmt_casual_input.py [--model models/en-es] [--limit 1000] [--beam 4] [--threads 1]

"Casual" drops a sentence's closing mark (and the Spanish "¿"/"¡" paired with it) and lowers its first
letter, on the source and on the reference alike: "How are you?" / "¿Cómo estás?" becomes
"how are you" / "cómo estás"; a reference that opens with a name the source writes later keeps its
capital ("Is Tom here?" / "¿Tom está aquí?" -> "is Tom here" / "Tom está aquí"). The first --limit
sentences of Tatoeba-test are scored by sacrebleu four ways: ours on the sentences as written (the
test set's form), ours on the casual form fed as it is, ours on the casual form with normalization
(the default of `scratchml translate`), and Apertium on the casual form. Last line: JSON with the
four BLEU scores and normalized / raw.
"""

import argparse
import json
import re
import shutil

import sacrebleu
import torch

from nmt_vs_apertium import apertium
from scratchml.translate.corpus import load_testset
from scratchml.translate.translator import Translator


def casual(sentence: str, keep: set[str] = frozenset()) -> str:
    """The sentence without its closing mark and with a small first letter, as typed in a hurry;
    the first letter stays when the first word is in ``keep``."""
    s = sentence.strip()
    mark = re.search(r"[.!?]+$", s)
    if mark:
        s = s[:mark.start()].rstrip()
        opening = {"?": "¿", "!": "¡"}.get(mark.group()[-1])
        if opening and opening in s:
            i = s.rindex(opening)
            s = s[:i] + s[i + 1:]
    m = re.search(r"[^\W\d_]", s)  # the first letter
    if m and not s[m.start() + 1:m.start() + 2].isupper() and re.match(r"\w+", s[m.start():])[0] not in keep:
        s = s[:m.start()] + s[m.start()].lower() + s[m.start() + 1:]
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    sources, refs = load_testset("tatoeba")
    sources, refs = sources[:args.limit], refs[:args.limit]
    casual_sources = [casual(s) for s in sources]
    names = [{w for w in re.findall(r"\w+", s)[1:] if w[0].isupper()} for s in sources]
    casual_refs = [casual(r, keep) for r, keep in zip(refs, names)]
    translator = Translator.load(args.model)

    def bleu(hyps, references):
        return round(sacrebleu.corpus_bleu(hyps, [references]).score, 2)

    result = {"sentences": len(sources), "beam": args.beam,
              "written_bleu": bleu(translator.translate(sources, beam=args.beam, progress=True), refs)}
    raw = translator.translate(casual_sources, beam=args.beam, normalize=False, progress=True)
    normalized = translator.translate(casual_sources, beam=args.beam, progress=True)
    result["casual_raw_bleu"] = bleu(raw, casual_refs)
    result["casual_normalized_bleu"] = bleu(normalized, casual_refs)
    if shutil.which("apertium"):
        result["casual_apertium_bleu"] = bleu(apertium(casual_sources), casual_refs)
    result["normalized_over_raw"] = round(result["casual_normalized_bleu"] / max(result["casual_raw_bleu"], 1e-9), 2)
    for i in range(3):
        print(f"EN: {casual_sources[i]}\n  raw:        {raw[i]}\n  normalized: {normalized[i]}\n"
              f"  ref:        {casual_refs[i]}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
