"""Typed text gets the training sentences' capital and closing mark; the translation gets them back off."""

import pytest

from scratchml.translate.normalize import Style, looks_like_a_question, prepare, restore


@pytest.mark.parametrize("text, prepared, style", [
    ("how are you", "How are you?", Style(capitalized=True, closed=True)),
    ("Hello", "Hello.", Style(closed=True)),
    ("  thanks a lot  ", "Thanks a lot.", Style(capitalized=True, closed=True)),
    ("I'm tired.", "I'm tired.", Style()),
    ("Really?!", "Really?!", Style()),
    ("Wait...", "Wait...", Style()),
    ('He said "no."', 'He said "no."', Style()),
    ('He said "no"', 'He said "no".', Style(closed=True)),
    ("see you at 5", "See you at 5.", Style(capitalized=True, closed=True)),
    ("Dear Sir,", "Dear Sir,", Style(names=frozenset({"Sir"}))),  # an open clause is left as it is
    ("where is it :)", "Where is it :)", Style(capitalized=True)),
    ("is Tom here", "Is Tom here?", Style(capitalized=True, closed=True, names=frozenset({"Tom"}))),
    ("can i go? i think so", "Can I go? I think so.", Style(capitalized=True, closed=True)),
    ('"where is it"', '"Where is it"?', Style(capitalized=True, closed=True)),
    ("i.e. this", "I.e. this.", Style(capitalized=True, closed=True)),
    ("5 people came", "5 people came.", Style(closed=True)),
    ("ﬁne thanks", "Fine thanks.", Style(capitalized=True, closed=True)),
    ("cafe\u0301 au lait", "Café au lait.", Style(capitalized=True, closed=True)),
    ("", "", Style(verbatim=True)),
    ("WHERE IS IT", "Where is it?", Style(closed=True, shouted=True)),
    ("WHAT AM I DOING", "What am I doing?", Style(closed=True, shouted=True)),
    ("OK", "OK.", Style(closed=True)),
    ("HELLO", "Hello.", Style(closed=True, shouted=True)),
    ("I", "I.", Style(closed=True)),
    ("😀 123 !", "😀 123 !", Style(verbatim=True)),
])
def test_prepare(text, prepared, style):
    assert prepare(text) == (prepared, style)


@pytest.mark.parametrize("text, question", [
    ("where is the station", True), ("What time is it", True), ("is this seat taken", True),
    ("can you help me", True), ("does Tom know", True), ("do you speak English", True),
    ("didn't they call", True), ("Have you eaten", True), ("Would anyone like tea", True),
    ("what's wrong", True), ("It's late, isn't it", True), ("You're German, right", True),
    ("Excuse me, where is the bank", True), ("You look tired. Did something happen", True),
    ("what a day", False), ("Do it now", False), ("have a seat", False), ("the cat is black", False),
    ("It is late", False), ("Is", False), ("Tom can swim", False), ("What he did was wrong", False),
    ("When I was young, I lived in Paris", False), ("Where is it? I can't see it", False),
])
def test_questions(text, question):
    assert looks_like_a_question(text) == question


@pytest.mark.parametrize("translation, style, restored", [
    ("¿Cómo estás?", Style(capitalized=True, closed=True), "cómo estás"),
    ("Hola.", Style(closed=True), "Hola"),
    ("¡Qué día!", Style(closed=True), "Qué día"),
    ("¿Vienes? Sí.", Style(closed=True), "¿Vienes? Sí"),  # the "¿" belongs to the first sentence
    ("¿Vienes? ¿Sí?", Style(closed=True), "¿Vienes? Sí"),
    ("¿Está bien? Creo que sí?", Style(closed=True), "¿Está bien? Creo que sí"),
    ("¡¿Qué?!", Style(capitalized=True, closed=True), "qué"),
    ("Vivo en EE. UU.", Style(capitalized=True, closed=True), "vivo en EE. UU."),
    ("Son las 5 p. m.", Style(closed=True), "Son las 5 p. m."),
    ("¿Tom está aquí?", Style(capitalized=True, closed=True, names=frozenset({"Tom"})), "Tom está aquí"),
    ("¿Y tú?", Style(capitalized=True), "¿y tú?"),
    ("EE. UU. es grande.", Style(capitalized=True, closed=True), "EE. UU. es grande"),
    ("Espera...", Style(closed=True), "Espera"),
    ("Hola.", Style(), "Hola."),
    ("¿Dónde está?", Style(closed=True, shouted=True), "DÓNDE ESTÁ"),
    ("123", Style(verbatim=True), "123"),
    ("", Style(capitalized=True, closed=True), ""),
])
def test_restore(translation, style, restored):
    assert restore(translation, style) == restored


@pytest.mark.dataset("en-es")
def test_questions_agree_with_the_corpus_marks():
    """Tatoeba's closing marks say which sentences ask: the rule must agree on nearly all of them."""
    from scratchml.translate.corpus import load_pairs
    sentences = {en for en, _ in load_pairs() if en[-1] in ".!?"}
    right = sum(looks_like_a_question(s[:-1]) == s.endswith("?") for s in sentences)
    assert right / len(sentences) > 0.99
