"""Inverted index: postings equal to counting the terms directly; save/load round trip; and a clear
one-line error for every file that is not a complete index of this version."""

import json
from collections import Counter

import numpy as np
import pytest

from scratchml.errors import ScratchMLError
from scratchml.retrieve.analysis import Analyzer
from scratchml.retrieve.bm25 import BM25
from scratchml.retrieve.index import InvertedIndex

TEXTS = ["Cells divide; the cells grow.", "Mice were running in the maze.", "the and of",
         "", "Running cells: mice cells!"]
IDS = ["d1", "d2", "d3", "d4", "d5"]


@pytest.fixture(scope="module")
def index():
    return InvertedIndex.build(TEXTS, IDS)


def test_postings_count_the_terms(index):
    analyzer = Analyzer()
    counts = [Counter(analyzer(t)) for t in TEXTS]  # the reference: term counts per document
    assert set(index.vocab) == set().union(*counts)
    for term in index.vocab:
        rows, tfs = index.postings(term)
        expected = [(row, c[term]) for row, c in enumerate(counts) if term in c]  # ascending rows
        assert list(zip(rows.tolist(), tfs.tolist())) == expected
        assert index.doc_freqs()[index.vocab[term]] == len(expected)
    assert index.doc_lengths.tolist() == [sum(c.values()) for c in counts]
    assert index.doc_lengths.tolist()[2:4] == [0, 0], "stopwords only, and empty"
    assert [len(a) for a in index.postings("absent")] == [0, 0]


def test_mismatched_ids_are_an_error():
    with pytest.raises(ScratchMLError, match="2 texts but 3 document ids"):
        InvertedIndex.build(["a b", "c"], ["1", "2", "3"])


def test_save_load_round_trip(index, tmp_path):
    path = tmp_path / "sub" / "index.npz"
    index.save(path)
    index.save(path)  # over an existing file
    assert [p.name for p in path.parent.iterdir()] == ["index.npz"], "no temp file left behind"
    loaded = InvertedIndex.load(path)
    assert loaded.vocab == index.vocab and loaded.doc_ids == IDS
    for name in ("indptr", "doc_rows", "tfs", "doc_lengths"):
        assert np.array_equal(getattr(loaded, name), getattr(index, name))
        assert getattr(loaded, name).dtype == getattr(index, name).dtype
    assert loaded.analyzer.config() == index.analyzer.config()
    queries = ["running mice", "cells", "the maze"]
    assert BM25(loaded).search_batch(queries) == BM25(index).search_batch(queries)


def test_round_trip_keeps_the_analyzer(tmp_path):
    InvertedIndex.build(["The cells"], ["a"], Analyzer(stopwords=["cells"], stem=False)).save(tmp_path / "i.npz")
    assert InvertedIndex.load(tmp_path / "i.npz").analyzer("The cells ran") == ["the", "ran"]


def _rewrite(path, out, meta_change=None, drop=None, **arrays):
    """Copy an index file with its JSON or arrays changed."""
    with np.load(path) as npz:
        content = {name: npz[name] for name in npz.files}
    meta = json.loads(str(content["header"]))
    meta.update(meta_change or {})
    content.update(header=np.array(json.dumps(meta)), **arrays)
    content.pop(drop, None)
    np.savez(out, **content)


def _error(path) -> str:
    with pytest.raises(ScratchMLError) as e:
        InvertedIndex.load(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_files_give_one_line_errors(index, tmp_path):
    good = tmp_path / "good.npz"
    index.save(good)
    assert "no such index file" in _error(tmp_path / "missing.npz")

    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        assert "not a scratchml index file" in _error(tmp_path / "cut.npz")

    (tmp_path / "noise.npz").write_bytes(b"\x00garbage" * 50)
    assert "not a scratchml index file" in _error(tmp_path / "noise.npz")
    np.save(tmp_path / "bare.npy", np.arange(3))
    assert "not a scratchml index file" in _error(tmp_path / "bare.npy")

    _rewrite(good, tmp_path / "v2.npz", {"version": 2})
    assert "version 2" in _error(tmp_path / "v2.npz") and "rebuild" in _error(tmp_path / "v2.npz")
    _rewrite(good, tmp_path / "other.npz", {"format": "something.else"})
    assert "not a scratchml index file" in _error(tmp_path / "other.npz")
    _rewrite(good, tmp_path / "nometa.npz", drop="header")
    assert "not a scratchml index file" in _error(tmp_path / "nometa.npz")
    _rewrite(good, tmp_path / "notfs.npz", drop="tfs")
    assert "incomplete" in _error(tmp_path / "notfs.npz")
    _rewrite(good, tmp_path / "rows.npz", doc_rows=index.doc_rows + len(IDS))
    assert "inconsistent" in _error(tmp_path / "rows.npz")
    _rewrite(good, tmp_path / "float.npz", tfs=index.tfs.astype(np.float32))
    assert "inconsistent" in _error(tmp_path / "float.npz")
    _rewrite(good, tmp_path / "scalar.npz", doc_rows=np.int32(0))
    assert "inconsistent" in _error(tmp_path / "scalar.npz")
    _rewrite(good, tmp_path / "settings.npz", {"analyzer": {"stem": True, "colour": "red"}})
    assert "incomplete" in _error(tmp_path / "settings.npz")
