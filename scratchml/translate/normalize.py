"""Give typed text the shape of the training sentences, and give the translation back the text's shape.

All English sentences of the training corpus but 2 of 118,964 start with a capital letter and end with
a full stop, question mark or exclamation mark (Tatoeba's style). Text typed into a box often does
neither, and the model has never seen such input: the shipped model translates "how are you" as
"Lashúes son usted." but "How are you?" as "¿Cómo estás?". So, before translating:

- the first letter is capitalized ("how are you" -> "How are you");
- a sentence without a closing mark gets one: "?" when it opens like an English question (a
  question word, or an auxiliary verb before its subject: "is this seat taken"), "." otherwise.

After translating, what was added is taken away again, so the translation keeps the style of the
text: no closing mark (nor the Spanish opening "¿" or "¡" that pairs with it) and a small first
letter ("cómo estás"). MT pipelines do the same with true-casing and punctuation normalization
(Koehn et al. 2007, the Moses toolkit). ``benchmarks/nmt_casual_input.py`` measures the effect.
"""

from dataclasses import dataclass

import regex

# A sentence is closed by . ! ? or an ellipsis, possibly followed by closing quotes or brackets.
_CLOSED = regex.compile(r"[.!?…][\"'”’»)\]]*\s*$")
_QUESTION_WORDS = frozenset("how what where when why who whom whose which".split())
_AUXILIARIES = frozenset(
    "am is are was were do does did have has had can could will would shall should may might must "
    "isn't aren't wasn't weren't don't doesn't didn't haven't hasn't hadn't can't couldn't won't "
    "wouldn't shouldn't".split())
# Words that can follow an auxiliary as its subject: "is this ...", "can you ...", "did Tom ...".
_SUBJECTS = frozenset("i you he she it we they this that these those there the a an my your his her its our "
                      "their anyone anybody someone somebody everyone everybody".split())
# "do" and "have" also start commands ("Do it now", "Have a seat"): a question only before a pronoun.
_COMMAND_VERBS = {"do": {"i", "you", "we", "they"}, "have": {"i", "you", "we", "they"}}


@dataclass(frozen=True)
class Style:
    """What ``prepare`` changed, for ``restore`` to undo."""
    capitalized: bool = False
    closed: bool = False


def looks_like_a_question(text: str) -> bool:
    words = text.lower().replace("’", "'").split()
    if not words:
        return False
    if words[0] in _QUESTION_WORDS:
        return not (words[0] == "what" and words[1:2] in (["a"], ["an"]))  # "what a day" exclaims
    if words[0] in _AUXILIARIES and len(words) > 1:
        if words[0] in _COMMAND_VERBS:
            return words[1] in _COMMAND_VERBS[words[0]]
        return words[1] in _SUBJECTS or text.split()[1][:1].isupper()  # "does Tom know"
    return False


def prepare(text: str) -> tuple[str, Style]:
    """``text`` capitalized and closed like a training sentence, and what was changed."""
    text = text.strip()
    if not text:
        return text, Style()
    capitalized = text[0].islower()
    if capitalized:
        text = text[0].upper() + text[1:]
    closed = _CLOSED.search(text) is None and (text[-1].isalnum() or text[-1] in "\"'”’»)]")
    if closed:
        text += "?" if looks_like_a_question(text) else "."
    return text, Style(capitalized, closed)


def restore(translation: str, style: Style) -> str:
    """Undo on the translation what ``prepare`` did to the source."""
    if style.closed:
        stripped = translation.rstrip()
        if stripped[-1:] in ("?", "!", "."):
            opening = {"?": "¿", "!": "¡"}.get(stripped[-1])
            translation = stripped.rstrip(".?!").rstrip()  # also "..." and "?!"
            at = translation.rfind(opening) if opening else -1  # the mark that opened the last sentence
            if at >= 0:
                translation = translation[:at] + translation[at + 1:]
    if style.capitalized:
        i = len(translation) - len(translation.lstrip("¿¡\"'«“‘("))  # the first letter, after "¿" or quotes
        if translation[i:i + 1].isupper() and not translation[i + 1:i + 2].isupper():  # not "EE. UU."
            translation = translation[:i] + translation[i].lower() + translation[i + 1:]
    return translation
