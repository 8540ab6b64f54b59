"""Sentence splitting: ends at . ! ? …, not after titles, initials, colons or semicolons."""

import pytest
from hypothesis import given, strategies as st

from scratchml.translate.normalize import prepare
from scratchml.translate.sentences import split_sentences


@pytest.mark.parametrize("text, sentences", [
    ("Hi, Paul. Busy as usual?", ["Hi, Paul.", "Busy as usual?"]),
    ("Mom! Hurry!", ["Mom!", "Hurry!"]),
    ("My teacher is Mrs. Li.", ["My teacher is Mrs. Li."]),
    ("Dr. Smith and Mr. Jones met St. Peter.", ["Dr. Smith and Mr. Jones met St. Peter."]),
    ("J. K. Rowling wrote it. Read it.", ["J. K. Rowling wrote it.", "Read it."]),
    ("She joined the U.S. Army.", ["She joined the U.S. Army."]),
    ("Neither do I. Let's go.", ["Neither do I.", "Let's go."]),
    ("I like it; he does not: never.", ["I like it; he does not: never."]),
    ("He said \"Go.\" Then he left.", ["He said \"Go.\"", "Then he left."]),
    ("Wait... What? ¿Qué?", ["Wait...", "What?", "¿Qué?"]),
    ("It was 1999. 3 people came.", ["It was 1999.", "3 people came."]),
    ("Sign here. then go.", ["Sign here. then go."]),       # no capital, no new sentence
    ("Where is mr. Smith?", ["Where is mr. Smith?"]),     # titles and abbreviations in any case
    ("E.g. Tom likes it. I.e. he does.", ["E.g. Tom likes it.", "I.e. he does."]),
    ("Room No. 5 is free. No. I won't.", ["Room No. 5 is free.", "No.", "I won't."]),
    ("It was Jan. 5 today. Good.", ["It was Jan. 5 today.", "Good."]),
    ("«Hi!» (Yes.) ¡Vamos! «And then?»", ["«Hi!»", "(Yes.)", "¡Vamos!", "«And then?»"]),
    ("e.g. apples. And pears.", ["e.g. apples.", "And pears."]),
    ("  no end at all  ", ["no end at all"]),
    ("", []),
    ("   ", []),
])
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


@given(st.text(alphabet=st.sampled_from(list("ab AB1.?!;…\"'“”()¿¡\n")), max_size=60))
def test_splitting_loses_nothing_but_spacing(text):
    sentences = split_sentences(text)
    assert "".join("".join(sentences).split()) == "".join(text.split())
    assert all(s == s.strip() and s for s in sentences)


@pytest.mark.parametrize("typed, sentences", [
    ("where is mr. smith", ["Where is mr. Smith?"]),
    ("e.g. tom likes it", ["E.g. tom likes it."]),
    ("WHERE IS MR. SMITH. I AM HERE", ["Where is mr. Smith.", "I am here."]),
])
def test_typed_text_splits_after_normalization(typed, sentences):
    assert split_sentences(prepare(typed)[0]) == sentences


def test_a_long_paragraph_is_split_whole():
    text = "The cat sees Mr. Smith. " * 5000                # 120,000 characters
    assert len(split_sentences(text)) == 5000
