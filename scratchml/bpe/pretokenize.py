"""Pre-tokenization: cut text into "words" that BPE merges never cross.

BPE never merges across the boundary of a pre-token, so " dog." becomes " dog" + "." and the
vocabulary does not fill up with "dog.", "dog!", "dog?" … (Radford et al. 2019, GPT-2, section 2.2).

The pattern is GPT-4's (tiktoken ``cl100k_base``) with one change: combining marks ``\\p{M}`` count
as letters, so a word written in decomposed form (``"a" + U+0301`` instead of ``"á"``) stays one
word. Precomposed accented letters (á, ñ, ü) are already ``\\p{L}``. The alternatives, in order:

    '(?i:[sdmt]|ll|ve|re)                  English contractions: 's 't 'll 've 're (any case)
    [^\\r\\n\\p{L}\\p{M}\\p{N}]?[\\p{L}\\p{M}]+   a word, with at most one leading space/punctuation
    \\p{N}{1,3}                              numbers in groups of at most three digits
     ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*          a run of punctuation/symbols, optional leading space
    \\s*[\\r\\n]+                             newlines, with the spaces before them
    \\s+(?!\\S)                              spaces, leaving the last one to the next word
    \\s+                                     any remaining spaces

Every character falls in one class (letter/mark, digit, space, other), so the matches cover the
whole text and no byte is ever lost. GPT-4 writes two quantifiers possessively (``?+``, ``++``);
here that changes nothing (backtracking into them can never produce a match), so we use the plain
forms, which Python's ``regex``, Oniguruma (HF tokenizers) and fancy-regex (tiktoken) all read alike.
"""

import regex

from scratchml.errors import ScratchMLError

PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{M}\p{N}]?[\p{L}\p{M}]+|\p{N}{1,3}"""
           r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")


def compile_pattern(pattern: str) -> regex.Pattern:
    try:
        return regex.compile(pattern)
    except regex.error as e:
        raise ScratchMLError(f"invalid pre-tokenization pattern {pattern!r}: {e}") from None


def special_splitter(specials) -> regex.Pattern | None:
    """A regex that finds special tokens, or None when there are none.

    Longest first, so that at any position the longest special token wins (leftmost-longest, as
    HF tokenizers' added-token matcher does) when one special token is a prefix of another.
    """
    if not specials:
        return None
    alternatives = sorted(specials, key=len, reverse=True)
    return regex.compile("(" + "|".join(regex.escape(s) for s in alternatives) + ")")


def pieces(text: str, special_re: regex.Pattern | None):
    """Split ``text`` on special tokens: yields (chunk, is_special), chunks in order, none empty."""
    if special_re is None or special_re.search(text) is None:
        if text:
            yield text, False
        return
    for k, chunk in enumerate(special_re.split(text)):
        if chunk:
            yield chunk, k % 2 == 1  # split() with one group alternates text, match, text, …
