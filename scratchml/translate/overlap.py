"""Which test sentences a model has, or nearly has, seen in training.

A test pair whose sentences occur in the training data measures memory, not translation. Two
subsets of a test set are therefore scored apart: sentences absent from the training data, and
among those, sentences that are not even a one-word edit of a training sentence ("I like cats." is
one substitution from "I like dogs."). Words here are lower-cased word and punctuation tokens; an
edit is one substitution, insertion or deletion (a Levenshtein distance of 1 over tokens).

Finding every training sentence within one edit of a query uses deletion keys (the idea of
SymSpell, Garbe 2012): a sentence is indexed under itself and under each copy with one token
deleted. Two sentences within one edit share a key; sharing a key does not prove it (two
substitutions at different places can), so each candidate is checked exactly.
"""

import regex

_TOKEN = regex.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower()))


def _deletion_keys(t: tuple[str, ...]):
    yield t
    for i in range(len(t)):
        yield t[:i] + t[i + 1:]


def within_one_edit(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Levenshtein distance over tokens at most 1."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    i = 0                                     # b is a with one token inserted: find where
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


class NearDuplicates:
    """An index of training sentences that answers "is this sentence within one edit of one?"."""

    def __init__(self, sentences):
        self._index: dict[tuple, list[tuple]] = {}
        for t in set(map(tokens, sentences)):
            for key in _deletion_keys(t):
                self._index.setdefault(key, []).append(t)

    def __contains__(self, sentence: str) -> bool:
        t = tokens(sentence)
        return any(within_one_edit(t, c) for key in _deletion_keys(t) for c in self._index.get(key, ()))
