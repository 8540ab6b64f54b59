"""Typed copies: English sources as people type them into a translation box.

Written corpora are capitalized and punctuated ("Thank you."), but people type "thank you": lower
case, no closing mark. A model that has seen only the written form treats the typed one as another
sentence, and a short input has little else to go on ("hello" became "cola"). ``typed_copies``
adds copies of a fraction of the short pairs with the English side typed and the Spanish side as it
was: the translation should still come out written properly. Training on synthetic source noise is
the standard remedy for such inputs (Karpukhin et al. 2019, "Training on Synthetic Noise Improves
Robustness to Natural Noise in Machine Translation"; Belinkov & Bisk 2018).
"""

import random

SHORT_WORDS = 10  # people type short things; long sentences are pasted


def typed_form(text: str) -> str:
    """Lower case, without the closing marks: "Thank you." -> "thank you"."""
    return text.lower().rstrip(" .!?")


def typed_copies(pairs: list[tuple[str, str]], fraction: float, seed: int = 0) -> list[tuple[str, str]]:
    """Typed copies of a ``fraction`` of the pairs whose English side has at most ``SHORT_WORDS``
    words and changes when typed. Deterministic for a ``seed``."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"the fraction of pairs to copy must be within 0..1, got {fraction}")
    rng = random.Random(seed)
    copies = []
    for en, es in pairs:
        typed = typed_form(en)
        if rng.random() < fraction and typed and typed != en and len(en.split()) <= SHORT_WORDS:
            copies.append((typed, es))
    return copies
