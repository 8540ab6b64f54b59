"""Analyzer: the same terms as bm25s's tokenizer (given the same pattern), Lucene's stopwords,
PyStemmer's stems, and settings that survive a round trip."""

import sys

import bm25s
import pytest
import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from hypothesis import given, settings, strategies as st

from scratchml.errors import ScratchMLError
from scratchml.retrieve.analysis import LUCENE_STOPWORDS, Analyzer

WORDS = ["The", "mice", "were", "running", "IL-6", "café", "cells", "cell's", "Vitamin", "D", "not", "type",
         "2", "studies", "studying", "ŞEKER", "naïve", "x_y", "1,000", "—", "...", "  ", "\t\n"]


def test_pipeline_example():
    assert Analyzer()("The mice were running.") == ["mice", "were", "run"]


def test_punctuation_splits_and_single_characters_stay():
    assert Analyzer(stem=False)("IL-6 in vitamin D; café!") == ["il", "6", "vitamin", "d", "café"]


def test_stopwords_are_lucenes_english_list():
    # bm25s ships Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET as its "en" list
    assert LUCENE_STOPWORDS == set(STOPWORDS_EN) and len(LUCENE_STOPWORDS) == 33


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=12).map(" ".join),
                min_size=1, max_size=5))
def test_same_terms_as_bm25s_tokenizer(texts):
    """bm25s's tokenizer with our token pattern, its "en" stopwords and the same Snowball stemmer is
    an independent implementation of the same analysis."""
    expected = bm25s.tokenize(texts, token_pattern=r"(?u)\b\w+\b", stopwords="en",
                              stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False)
    analyzer = Analyzer()
    assert [analyzer(t) for t in texts] == expected
    assert [analyzer(t) for t in texts] == expected, "the stem cache changes nothing"


def test_without_stemming_or_stopwords():
    assert Analyzer(stopwords=(), stem=False)("The Cells are RUNNING") == ["the", "cells", "are", "running"]


def test_config_round_trip():
    a = Analyzer(stopwords=["cell"], stem=False)
    b = Analyzer(**a.config())
    text = "The cell cells ran"
    assert b(text) == a(text) == ["the", "cells", "ran"]


def test_missing_pystemmer_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "Stemmer", None)  # makes `import Stemmer` raise ImportError
    with pytest.raises(ScratchMLError, match=r"PyStemmer.*scratchml\[rag\]"):
        Analyzer()
    assert Analyzer(stem=False)("cells") == ["cells"]
