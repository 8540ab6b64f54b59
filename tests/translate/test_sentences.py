"""Sentence splitting: ends at . ! ? …, not after titles, initials, colons or semicolons."""

import pytest
from hypothesis import given, strategies as st

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
    ("e.g. apples. And pears.", ["e.g. apples.", "And pears."]),
    ("  no end at all  ", ["no end at all"]),
    ("", []),
    ("   ", []),
])
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


@given(st.text(alphabet=st.sampled_from(list("ab AB.?!;\"'¿\n")), max_size=60))
def test_splitting_loses_nothing_but_spacing(text):
    sentences = split_sentences(text)
    assert "".join("".join(sentences).split()) == "".join(text.split())
    assert all(s == s.strip() and s for s in sentences)


def test_a_long_paragraph_splits_in_linear_time():
    text = "The cat sees Mr. Smith. " * 5000                # 120,000 characters
    assert len(split_sentences(text)) == 5000
