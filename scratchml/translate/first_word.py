"""The first word of an English sentence, written as the tokenizer knows it from running text.

A byte-level BPE learns its merges from words as they occur inside sentences: after a space, and
for most words in lower case (" water", " happy"). The first word of a sentence has neither, so a
word the vocabulary holds whole falls apart at the start of a sentence:

    "Water, please."   ->  'W' 'ater' ',' ' please' '.'
    "Happy birthday!"  ->  'H' 'ap' 'p' 'y' ' birthday' '!'

The fragments are shared with hundreds of other words, and in a short phrase the first word is
often the one the meaning hangs on. Written as inside a sentence, these words are one token each:

    " water, please."   ->  ' water' ',' ' please' '.'
    " happy birthday!"  ->  ' happy' ' birthday' '!'

So before encoding, a source sentence gets a space in front, as SentencePiece's dummy prefix does
(Kudo & Richardson 2018), and its first word goes to lower case when that takes fewer tokens than
the capital, a frequency rule in the spirit of Moses' truecaser (Koehn et al. 2007): "Water" and
"Hello" are lowered, while names that are whole tokens with their capital (" Tom", " Boston") and
"I" keep it. The rule compares the two inner forms only, so a word that the vocabulary holds whole
at the start of a sentence alone ("Nobody") gets longer (" No" "body"); a model trained with the
rule reads its sentences this way, so changing the rule means training again. Only the model's
input changes: the Spanish side is untouched.
"""

import regex

# Leading whitespace, then opening quotes or brackets, then the first word.
_FIRST_WORD = regex.compile(r"^\s*([\"'«“‘(\[]*)(\p{Lu}\p{Ll}*)(?=\P{L}|$)")


def inline_first_word(text: str, count_tokens) -> str:
    """``text`` with a space in front and its first word lowered where the lower case takes fewer
    tokens (``count_tokens(str) -> int``). Words in capitals ("NASA", "OK") keep them."""
    m = _FIRST_WORD.match(text)
    if m is None:
        # A space only before a letter, as words have inside a sentence: the pre-tokenizer never
        # joins a space to a digit, so before "123" it would be a token of its own.
        stripped = text.lstrip()
        return " " + stripped if stripped[:1].isalpha() else stripped
    opening, word = m.group(1), m.group(2)
    lower = word.lower()
    if lower != word and count_tokens(" " + opening + lower) < count_tokens(" " + opening + word):
        word = lower
    return " " + opening + word + text[m.end():]


def source_texts(tokenizer, texts: list[str], first_word: str = "inline") -> list[str]:
    """The English ``texts`` as the model takes them: unchanged for a model trained on sentences
    as written (``first_word="as-written"``), else each through ``inline_first_word``."""
    if first_word == "as-written":
        return list(texts)
    counts = {}

    def count_tokens(word: str) -> int:  # a few thousand distinct first words in 100,000s of sentences
        if word not in counts:
            counts[word] = len(tokenizer.encode(word, allow_special=False))
        return counts[word]

    return [inline_first_word(text, count_tokens) for text in texts]
