"""Invented names, so that the translator learns to copy a name it has never seen.

Names are copied from English to Spanish, but spa.txt hardly teaches that: of the 21,529 pairs whose
two sides share a capitalized name, 19,390 share "Tom" and 3,984 "Mary". A model trained on them
learns those names as words, and guesses at the others from their spelling ("There is also Paolo."
→ "También hay Papá."). ``swap_names`` adds copies of such pairs with the shared name replaced, on
both sides, by an invented one: random syllables, so the BPE pieces that make up a name vary and the
only way to get the copy right is to copy. (Placeholders for names, as in rule-based preprocessing,
would need the same replacement at translation time; this changes only the training data.)
"""

import random
from collections import Counter

import regex

_WORD = regex.compile(r"\p{L}+")
_CAPITALIZED = regex.compile(r"\p{Lu}\p{Ll}+")

# Syllables in the shapes of names from many languages (Paolo, Yoko, Vasya, Ishmael, Kublai).
_ONSETS = ("", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y", "z",
           "ch", "sh", "th", "br", "dr", "gr", "kr", "pr", "st", "tr", "ts")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ia", "ou", "ee", "y")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "k", "t", "sh", "nd")


def find_names(pairs: list[tuple[str, str]]) -> set[str]:
    """Words the English side uses as names: capitalized after its first word, and written in small
    letters at most a tenth as often ("Tom", "Boston", "Facebook"; not "Will"). The first word of a
    later sentence counts too, which lets in a few interjections ("Oh" of "Oh no!" / "¡Oh, no!")."""
    capitalized, small = Counter(), Counter()
    for en, _ in pairs:
        words = _WORD.findall(en)
        small.update(w for w in words if w.islower())
        capitalized.update(w for w in words[1:] if _CAPITALIZED.fullmatch(w))
    return {w for w, n in capitalized.items() if small[w.lower()] * 10 <= n}


def _pattern(name: str) -> regex.Pattern:
    return regex.compile(rf"(?<!\p{{L}}){regex.escape(name)}(?!\p{{L}})")


def shared_names(english: str, spanish: str, names: set[str]) -> list[str]:
    """The names of ``names`` written the same way on both sides of a pair, in order of appearance."""
    found = [w for w in dict.fromkeys(_WORD.findall(english)) if w in names]
    return [w for w in found if _pattern(w).search(spanish)]


def invent_name(rng: random.Random) -> str:
    """A capitalized name of 1 to 4 random syllables and at least 3 letters ("A" or "Y" would read as words)."""
    body = ""
    while len(body) < 3:
        syllables = rng.choice((1, 2, 2, 2, 3, 3, 4))
        body = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)
    return body[:1].upper() + body[1:]


def swap_names(pairs: list[tuple[str, str]], fraction: float, seed: int = 0,
               names: set[str] | None = None) -> list[tuple[str, str]]:
    """Copies of a ``fraction`` of the pairs that share a name (of ``names``; default: ``find_names``
    of the pairs), each shared name replaced on both sides by an invented one. Deterministic for a
    ``seed``. About 1 % of invented names are also words ("Son", "Can"): noise the model can afford."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"the fraction of pairs with names to copy must be within 0..1, got {fraction}")
    rng, names = random.Random(seed), find_names(pairs) if names is None else names
    copies = []
    for en, es in pairs:
        shared = shared_names(en, es, names)
        if not shared or rng.random() >= fraction:
            continue
        for name in shared:
            new = invent_name(rng)
            while new in names:                              # an invented name, not one of the corpus's
                new = invent_name(rng)
            en, es = _pattern(name).sub(new, en), _pattern(name).sub(new, es)
        copies.append((en, es))
    return copies
