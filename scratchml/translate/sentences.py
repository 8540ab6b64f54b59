"""Split English text into sentences, so that the translator gets one sentence at a time.

The model learns from spa.txt, where 117,759 of the 118,964 English sides are a single sentence and
none has more than four (by this splitter). Given a paragraph it has to do what it never practised: keep its place over
many clauses, where it tends to drop or repeat some. Translating sentence by sentence and joining the
translations is what MT systems do with documents (Moses ships a sentence splitter for it); the
price is that a sentence is translated without its neighbours ("It" in the second sentence cannot
take the gender of a noun in the first), which the model, trained on single sentences, rarely used
anyway. ``scratchml nmt eval --no-split`` measures the difference.

A sentence ends at . ! ? or … (with any closing quotes or brackets) followed by a space and then a
capital or a digit, possibly behind an opening quote, bracket, ¿ or ¡ — unless the full stop ends a
title or an abbreviation in any case ("Mr. Li", "mr. Li", "E.g. this", "Jan. 5", "No. 5") or an
initial ("J. K. Rowling", "the U.S. Army"; but not "I": "So am I. ..."). Colons and semicolons never
end one. The initials rule misses the end of a sentence that ends in a capital letter ("This is plan
B. Go."): the two are then translated together, as without splitting.
"""

import regex

# the gap after a closing mark where a new sentence may start
_GAP = regex.compile(r"(?<=[.!?…][\"'”’»)\]]*)\s+(?=[\"'“‘«(\[¿¡]*[\p{Lu}\p{N}])")
# full stops that do not end a sentence: titles and other abbreviations (in any case: normalize.py
# capitalizes "e.g." at the start of a text, typed text has "mr."), and initials
_NOT_AN_END = regex.compile(
    r"(?:\b(?i:Mr|Mrs|Ms|Mx|Dr|Prof|St|Mt|Jr|Sr|Rev|Gen|Col|Capt|Lt|Sgt|Gov|Sen|Rep|Hon|vs|approx|ca|cf|"
    r"e\.g|i\.e|Fig|Vol|Ch|pp?|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
    r"|(?<![\p{L}\p{M}])(?!I\.)\p{Lu})\.$")  # "So am I." ends one
# "No." before a number is "number" ("Room No. 5"); before a word it is "no" ("No. I won't.")
_NUMBER_SIGN = regex.compile(r"\b(?i:No|Nos)\.$")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped; their concatenation with single spaces is ``text`` up to
    the spacing between sentences. Text without a sentence end is one sentence."""
    sentences, start = [], 0
    for gap in _GAP.finditer(text):
        before = max(start, gap.start() - 10)                # the mark's last word
        if _NOT_AN_END.search(text, before, gap.start()) or \
                _NUMBER_SIGN.search(text, before, gap.start()) and text[gap.end()].isdigit():
            continue
        sentences.append(text[start:gap.start()])
        start = gap.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip()]
