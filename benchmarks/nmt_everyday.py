"""Everyday phrases — greetings, thanks, yes/no, apologies, short questions — translated by our
model and by Apertium, each phrase as written ("Thank you.") and as typed ("thank you").

    python benchmarks/nmt_everyday.py [--model models/en-es] [--beam 4] [--knn] [--valid]

With ``--knn`` the model is also run with kNN-MT over its datastore (docs/rag.md), as a third system.
With ``--valid`` the phrases are the held-out Tatoeba pairs of at most four English words instead,
each English phrase accepting every translation the corpus gives it: the same check on data that
may be used to choose between models.

A translation passes when, lower-cased and without punctuation, it equals one of the translations
that benchmarks/data/everyday_phrases.tsv accepts for the phrase. Prints every failure; the last
line is JSON with the passes of each system, written and typed, out of the phrases' count.
"""

import argparse
import json
import shutil
import unicodedata
from pathlib import Path

import regex

from scratchml.translate import Translator

PHRASES = Path(__file__).parent / "data" / "everyday_phrases.tsv"
_PUNCT = regex.compile(r"[\p{P}\p{S}]+")


def load_phrases(path: Path = PHRASES) -> list[tuple[str, list[str]]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            english, accepted = line.split("\t")
            rows.append((english, [a.strip() for a in accepted.split(" | ")]))
    return rows


def validation_phrases() -> list[tuple[str, list[str]]]:
    """The validation split's phrases, with all their translations (the split keeps them together)."""
    from scratchml.translate.corpus import is_phrase, validation_pairs

    accepted: dict[str, list[str]] = {}
    for en, es in validation_pairs("tatoeba"):
        if is_phrase(en):
            accepted.setdefault(en, []).append(es)
    return list(accepted.items())


def key(text: str) -> str:
    """Lower-cased, punctuation removed, spaces collapsed: "¡Hola!" and "hola" are the same answer."""
    return " ".join(_PUNCT.sub(" ", unicodedata.normalize("NFC", text).lower()).split())


def typed(text: str) -> str:
    """How people type a phrase into a box: lower case, no closing mark."""
    return text.lower().rstrip(".!?")


def passes(outputs: list[str], phrases) -> list[bool]:
    return [key(out) in {key(a) for a in accepted} for out, (_, accepted) in zip(outputs, phrases)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--knn", action="store_true", help="also the model with kNN-MT")
    ap.add_argument("--valid", action="store_true", help="the held-out Tatoeba phrases instead")
    ap.add_argument("--quiet", action="store_true", help="print only the JSON line")
    args = ap.parse_args()
    phrases = validation_phrases() if args.valid else load_phrases()
    written = [en for en, _ in phrases]
    inputs = {"written": written, "typed": [typed(en) for en in written]}
    translator = Translator.load(args.model)
    systems = {"ours": lambda texts: translator.translate(texts, beam=args.beam)}
    if args.knn:
        from scratchml.translate import KNN, load_datastore

        knn = KNN(load_datastore(translator))
        systems["ours_knn"] = lambda texts: translator.translate(texts, beam=args.beam, knn=knn)
    if shutil.which("apertium"):
        from nmt_vs_apertium import apertium
        systems["apertium"] = apertium
    result = {"phrases": len(phrases)}
    for name, translate in systems.items():
        for form, texts in inputs.items():
            outputs = translate(texts)
            ok = passes(outputs, phrases)
            for text, out, good, (_, accepted) in zip(texts, outputs, ok, phrases):
                if not good and not args.quiet:
                    print(f"{name} {form}: {text!r} -> {out!r} (accepted: {' | '.join(accepted)})")
            result[f"{name}_{form}"] = sum(ok)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
