"""Give typed text the shape of the training sentences, and give the translation back the text's shape.

All English sentences of the training corpus but 2 of 118,964 start with a capital letter and end
with a full stop, question mark or exclamation mark (Tatoeba's style), and none writes "i" for "I".
Text typed into a box often does none of this, and the model has never seen such input: the shipped
model translates "how are you" as "vaca sos tú." but "How are you?" as "¿Cómo estás?". So,
before translating:

- each sentence starts with a capital letter and "i" is written "I" ("how are you" -> "How are
  you"); text in capitals only is put in sentence case ("WHERE IS IT" -> "Where is it");
- a text without a closing mark gets one: "?" when it reads as an English question (it opens with
  a question word, or with an auxiliary verb before its subject: "is this seat taken"; or it ends
  in a tag: "..., isn't it"), "." otherwise.

After translating, what was added is taken away again, so the translation keeps the style of the
text: no closing mark (nor the Spanish "¿" or "¡" that opened it), a small first letter ("cómo
estás") unless it starts a name the text wrote with a capital, capitals only ("DÓNDE ESTÁ"). MT
pipelines do the same with true-casing and punctuation normalization (Koehn et al. 2007, Moses).
Text without a letter ("123", "😀") has nothing to translate and is its own translation.
``benchmarks/nmt_casual_input.py`` measures the effect.
"""

import unicodedata
from dataclasses import dataclass

import regex

from scratchml.translate.sentences import split_sentences

# A sentence is closed by . ! ? or an ellipsis, possibly followed by closing quotes or brackets.
_CLOSED = regex.compile(r"[.!?…][\"'”’»)\]]*$")
_OPEN_CLAUSE = regex.compile(r"(?:[,;:\-–—(\[«“‘]|[:;]-?[()DP])$")  # "Dear Sir,", emoticons ":)"
_OPENING_QUOTES = "\"'«“‘([¿¡"
_CLAUSE_END = regex.compile(r"(?<=[;:])\s+")
# a letter that starts a sentence: not after "e.g. " or "i.e. " (a lone letter before the full stop)
_SENTENCE_START = regex.compile(r"(?:^|(?<=(?<!\b\p{L})[.!?]\s))([\"'«“‘(\[¿¡\s]*)(\p{Ll})")
_PRONOUN_I = regex.compile(r"\bi\b(?!\.\w)")      # not "i.e."
# A translation ending in an abbreviation keeps its full stop: "EE. UU.", "p. m.", "etc."
_ABBREVIATION_END = regex.compile(r"(?:\b\p{L}{1,2}\.\s?){2,}$|\betc\.$")

_QUESTION_WORDS = frozenset("how what where when why who whom whose which".split())
_AUXILIARIES = frozenset(
    "am is are was were do does did have has had can could will would shall should may might must "
    "isn't aren't wasn't weren't don't doesn't didn't haven't hasn't hadn't can't couldn't won't "
    "wouldn't shouldn't".split())
_PERSONAL = frozenset("i you he she it we they".split())
# Words that can follow an auxiliary as its subject: "is this ...", "can you ...", "did Tom ...".
_SUBJECTS = _PERSONAL | frozenset("this that these those there the a an my your his her its our their anyone "
                                  "anybody someone somebody everyone everybody something anything".split())
# "do" and "have" also start commands ("Do it now", "Have a seat"): a question only before a pronoun.
_COMMAND_VERBS = frozenset({"do", "have"})
_ASKED_BY_COMMAND_VERBS = _PERSONAL - {"he", "she", "it"}  # "Do it now" commands
# Tag questions: "It's late, isn't it", "You're German, right".
_TAG = regex.compile(r",\s*(?:(?:\w+n't|am|is|are|was|were|do|does|did|can|will|would|should)\s+\w+"
                     r"|right|ok(?:ay)?|huh)$", regex.IGNORECASE)


@dataclass(frozen=True)
class Style:
    """What ``prepare`` changed, for ``restore`` to undo."""
    capitalized: bool = False
    closed: bool = False
    shouted: bool = False                   # the text was in capitals only
    verbatim: bool = False                  # no letter to translate: the text is its own translation
    names: frozenset = frozenset()          # words the text wrote with a capital, after its first


def looks_like_a_question(text: str) -> bool:
    """Whether English text without its closing mark ends in a question. The last sentence (as
    sentences.py splits a text whose sentences start with capitals, as ``prepare`` leaves them) decides:
    it asks when it, or its last clause ("Excuse me, where is ..."), opens like a question, or when
    it ends in a tag ("..., isn't it"). 99.6 % right on the sentences of spa.txt, whose closing
    marks say which ask (tests/translate/test_normalize.py)."""
    sentence = _CLAUSE_END.split((split_sentences(text.replace("’", "'")) or [""])[-1])[-1]
    if _TAG.search(sentence):
        return True
    return any(_opens_a_question(part.lstrip(_OPENING_QUOTES).split())
               for part in (sentence, sentence.rsplit(",", 1)[-1]))


def _opens_a_question(words: list[str]) -> bool:
    if not words:
        return False
    first, second = words[0].lower(), (words[1] if len(words) > 1 else "")
    if first.split("'")[0] in _QUESTION_WORDS:            # "what's" too
        # "What he did was wrong", "When Tom was young, ...", "What a day": not questions
        return "'" in first or not (second.lower() in _PERSONAL | {"a", "an"} or second[:1].isupper())
    if first in _AUXILIARIES and second:
        if first in _COMMAND_VERBS:                       # "Do you ...?" but "Do it now."
            return second.lower() in _ASKED_BY_COMMAND_VERBS
        return second.lower() in _SUBJECTS or second[:1].isupper()  # "does Tom know"
    return False


def _words(text: str) -> list[str]:
    return regex.findall(r"\p{L}[\p{L}\p{M}'’-]*", text)


def prepare(text: str) -> tuple[str, Style]:
    """``text`` capitalized and closed like a training sentence, and what was changed."""
    text = unicodedata.normalize("NFC", text).strip()
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return text, Style(verbatim=True)
    # capitals only, and more than an acronym ("OK", "NASA" stay as they are)
    shouted = all(c.isupper() for c in letters) and (len(letters) > 4 or len(text.split()) > 1)
    if shouted:  # names lose their capital too ("WHERE IS TOM" -> "Where is tom"): nothing tells them apart
        text = text.lower()
    names = frozenset(w for w in _words(text)[1:] if w[0].isupper())
    capitalized = bool(_SENTENCE_START.match(text)) and not shouted
    text = _PRONOUN_I.sub("I", _SENTENCE_START.sub(lambda m: m[1] + m[2].title(), text))
    closed = not _CLOSED.search(text) and not _OPEN_CLAUSE.search(text)
    if closed:
        text += "?" if looks_like_a_question(text) else "."
    return text, Style(capitalized, closed, shouted, names=names)


def restore(translation: str, style: Style) -> str:
    """Undo on the translation what ``prepare`` did to the source."""
    if style.verbatim:
        return translation
    if style.closed:
        translation = _unclose(translation.rstrip())
    if style.capitalized:
        words = _words(translation)
        i = len(translation) - len(translation.lstrip(_OPENING_QUOTES))  # the first letter, after "¿" or quotes
        is_name = bool(words) and words[0] in style.names
        if translation[i:i + 1].isupper() and not translation[i + 1:i + 2].isupper() and not is_name:
            translation = translation[:i] + translation[i].lower() + translation[i + 1:]
    return translation.upper() if style.shouted else translation


def _unclose(translation: str) -> str:
    """The translation without its closing marks, and without the "¿" / "¡" that opened them in
    its last sentence ("¿Está bien? ¿Sí?" -> "¿Está bien? Sí")."""
    marks = regex.search(r"[.?!]+$", translation)
    if not marks or _ABBREVIATION_END.search(translation):
        return translation
    body = translation[:marks.start()].rstrip()
    start = max(body.rfind(c) for c in ".?!") + 1         # where the last sentence begins
    last = body[start:]
    for closing, opening in (("?", "¿"), ("!", "¡")):
        for _ in range(marks[0].count(closing)):
            last = last.replace(opening, "", 1)
    return body[:start] + last
