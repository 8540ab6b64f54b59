"""Scoring translations with sacrebleu (BLEU and chrF on detokenized, case-sensitive text)."""

import time

import sacrebleu

from scratchml.errors import ScratchMLError
from scratchml.translate.corpus import load_testset, validation_pairs
from scratchml.translate.translator import LENGTH_PENALTY, Translator


def evaluate(translator: Translator, testset: str, beam: int = 4, limit: int = 0,
             batch_size: int = 64, alpha: float = LENGTH_PENALTY, progress: bool = False,
             normalize: bool = True, split: bool = True, knn=None) -> dict:
    """Translate a test set and score it; ``limit`` > 0 keeps only its first sentences. "valid" is
    the held-out Tatoeba validation split (one reference per pair), "valid-news" the held-out News
    Commentary articles: for choosing between models without looking at the test sets.
    ``normalize``, ``split``, ``knn``: as in ``Translator.translate``."""
    if limit < 0:
        raise ScratchMLError(f"limit must be 0 (all sentences) or more, got {limit}")
    if testset in ("valid", "valid-news"):
        pairs = validation_pairs("news" if testset == "valid-news" else "tatoeba")
        sources, references = [en for en, _ in pairs], [es for _, es in pairs]
    else:
        sources, references = load_testset(testset)
    if limit:
        sources, references = sources[:limit], references[:limit]
    start = time.perf_counter()
    hypotheses = translator.translate(sources, beam=beam, batch_size=batch_size, alpha=alpha, progress=progress,
                                      normalize=normalize, split=split, **({} if knn is None else {"knn": knn}))
    seconds = max(time.perf_counter() - start, 1e-9)
    bleu_metric, chrf_metric = sacrebleu.BLEU(), sacrebleu.CHRF()
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    return {
        "testset": testset, "sentences": len(sources), "beam": beam, "length_penalty": alpha,
        "normalized": normalize, "split_sentences": split,
        "bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2),
        "bleu_signature": str(bleu_metric.get_signature()),
        "chrf_signature": str(chrf_metric.get_signature()),
        "seconds": round(seconds, 1), "sentences_per_s": round(len(sources) / seconds, 1),
        "hypotheses": hypotheses,
    }
