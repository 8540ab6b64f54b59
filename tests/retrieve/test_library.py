"""A library of passages: BM25, dense and hybrid search with citations, extending it without
re-encoding, the folder on disk (round trip, atomic replacement, every damaged or foreign folder
refused with one line) and the model check. The encoder is a tiny random BERT (tiny_bert.py)."""

import json

import numpy as np
import pytest

from scratchml.errors import ScratchMLError
from scratchml.retrieve import library as library_module
from scratchml.retrieve.documents import INDEX_MARKER, SourceDocument, passages_of
from scratchml.retrieve.index import InvertedIndex
from scratchml.retrieve.library import Library, load_encoder
from scratchml.retrieve.library_folder import BM25_FILE, PASSAGES, VECTORS_FILE
from scratchml.retrieve.vectors import ExactIndex, IVFIndex
from tests.retrieve.tiny_bert import save_tiny_bert

TEXTS = {
    "cells": "Cells reproduce by dividing. In mitosis one cell divides into two daughter cells. "
             "Meiosis makes four cells with half the chromosomes.",
    "coffee": "Coffee is brewed from roasted beans. An espresso shot takes about 25 seconds. "
              "A pour-over drips by gravity.",
    "trains": "Night trains are back in Europe. The Nightjet connects Vienna with Paris.",
}


def documents(texts=TEXTS):
    return [SourceDocument(name, name.title(), text, f"{name}.txt") for name, text in texts.items()]


def cut(docs):
    return [p for d in docs for p in passages_of(d, words=16, overlap=4)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def encoder_and_model(tiny_model):
    return load_encoder(tiny_model)


def build(docs, encoder_and_model=None):
    found = cut(docs)
    if encoder_and_model is None:
        return Library.build(found, documents={d.id: d.sha256 for d in docs})
    encoder, model = encoder_and_model
    return Library.build(found, encoder.encode([p.contents for p in found]), model, {d.id: d.sha256 for d in docs})


def test_bm25_search_finds_the_passage_and_cites_its_best_sentence():
    library = build(documents())
    (hit, *rest) = library.search("how long is an espresso shot?", k=3, mode="bm25")
    assert hit.rank == 1 and hit.passage.doc == "coffee"
    assert hit.sentence == "An espresso shot takes about 25 seconds."
    assert all(h.passage.doc == "coffee" for h in rest)  # no other document shares a word
    assert library.search("the of? !", mode="bm25") == []


def test_dense_and_hybrid_search_rank_an_identical_text_first(encoder_and_model):
    encoder, _ = encoder_and_model
    library = build(documents(), encoder_and_model)
    target = library.passages[4]
    for mode in ("dense", "hybrid"):
        hits = library.search(target.contents, k=3, mode=mode, encoder=encoder)
        assert hits[0].passage == target and [h.rank for h in hits] == [1, 2, 3]
    hit = library.search("Night trains are back in Europe.", k=1, mode="dense", encoder=encoder)[0]
    assert hit.sentence == "Night trains are back in Europe."  # the nearest sentence: itself
    assert library.search("the of", mode="dense", encoder=encoder) == []
    with pytest.raises(ScratchMLError, match="unknown search mode 'fuzzy'"):
        library.search_batch(["cells"], mode="fuzzy", encoder=encoder)
    with pytest.raises(ScratchMLError, match="no dense vectors .* --mode bm25"):
        build(documents()).search("cells", mode="hybrid")


def test_a_saved_library_searches_exactly_like_the_one_in_memory(tmp_path, encoder_and_model):
    encoder, _ = encoder_and_model
    library = build(documents(), encoder_and_model)
    library.save(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(
        [INDEX_MARKER, PASSAGES, BM25_FILE, VECTORS_FILE])
    loaded = Library.load(tmp_path / "idx")
    assert loaded.passages == library.passages and loaded.documents == library.documents
    for mode in ("bm25", "dense", "hybrid"):
        assert loaded.search("cells dividing", 5, mode, encoder) == library.search("cells dividing", 5, mode, encoder)
    np.testing.assert_array_equal(loaded.embeddings(), library.embeddings())


def test_extending_keeps_the_old_vectors_and_encodes_only_the_new_passages(encoder_and_model):
    encoder, model = encoder_and_model
    old_docs, new_docs = documents()[:2], documents()[2:]
    library = build(old_docs, encoder_and_model)
    new_passages = cut(new_docs)
    extended = library.extended(new_docs, new_passages, encoder.encode([p.contents for p in new_passages]))
    n = len(library.passages)
    np.testing.assert_array_equal(extended.embeddings()[:n], library.embeddings())
    assert extended.passages == library.passages + new_passages and extended.model == model
    assert extended.search("Nightjet", mode="bm25")[0].passage.doc == "trains"
    changed = SourceDocument("cells", "Cells", "new text", "cells.txt")
    new, same, changed_ = extended.known([*documents(), changed, SourceDocument("x", "X", "x", "x.txt")])
    assert [d.id for d in new] == ["x"] and [d.id for d in same] == list(TEXTS) and changed_ == [changed]


def test_large_collections_get_an_ivf_index_that_round_trips(tmp_path, monkeypatch, encoder_and_model):
    encoder, _ = encoder_and_model
    monkeypatch.setattr(library_module, "EXACT_LIMIT", 5)
    texts = {f"doc{i}": f"Document number {i} talks about topic {i % 7}. It has a second sentence." for i in range(40)}
    library = build(documents(texts), encoder_and_model)
    assert isinstance(library.vectors, IVFIndex) and library.vectors.nlist == round(4 * np.sqrt(40))
    library.save(tmp_path / "idx")
    loaded = Library.load(tmp_path / "idx")
    assert isinstance(loaded.vectors, IVFIndex)
    np.testing.assert_array_equal(loaded.embeddings(), encoder.encode([p.contents for p in library.passages]))
    target = library.passages[17]
    assert loaded.search(target.contents, 1, "dense", encoder)[0].passage == target


def test_the_vectors_can_only_be_searched_with_the_model_that_made_them(tmp_path, tiny_model, encoder_and_model):
    library = build(documents(), encoder_and_model)
    assert library.encoder().dim == 16  # the folder it recorded
    other = save_tiny_bert(tmp_path / "other", seed=1)
    with pytest.raises(ScratchMLError, match="is not the one that made this index's vectors"):
        library.encoder(other)


def test_saving_replaces_an_index_but_nothing_else(tmp_path):
    folder = tmp_path / "idx"
    build(documents()).save(folder)
    build(documents()[:1]).save(folder)  # replaced as a whole
    assert len(Library.load(folder).documents) == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(ScratchMLError, match="exists and is not a scratchml index"):
        build(documents()).save(tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


def test_an_interrupted_save_leaves_the_previous_index_intact(tmp_path, monkeypatch):
    folder = tmp_path / "idx"
    build(documents()[:1]).save(folder)

    def interrupted(self, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(InvertedIndex, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(documents()).save(folder)
    assert list(Library.load(folder).documents) == ["cells"]
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no half-built folder left behind


def damage(folder, how):
    header = folder / INDEX_MARKER
    if how == "missing header":
        header.unlink()
    elif how == "other version":
        header.write_text(json.dumps({**json.loads(header.read_text()), "version": 99}))
    elif how == "other format":
        header.write_text(json.dumps({"format": "something else"}))
    elif how == "header not json":
        header.write_text("{")
    elif how == "truncated passages":
        (folder / PASSAGES).write_bytes((folder / PASSAGES).read_bytes()[:-30])
    elif how == "passage missing":
        (folder / PASSAGES).write_text("".join((folder / PASSAGES).read_text().splitlines(True)[:-1]))
    elif how == "truncated bm25":
        (folder / BM25_FILE).write_bytes((folder / BM25_FILE).read_bytes()[:100])
    elif how == "vectors missing":
        (folder / VECTORS_FILE).unlink()
    elif how == "vectors of another collection":
        ExactIndex(np.ones((2, 16), np.float32)).save(folder / VECTORS_FILE)


@pytest.mark.parametrize("how, message", [
    ("missing header", f"is not a scratchml index \\(it has no {INDEX_MARKER}\\)"),
    ("other version", "index format version 99, this scratchml reads version 1; rebuild the index"),
    ("other format", "is not a scratchml index"),
    ("header not json", "is damaged"),
    ("truncated passages", "passages.jsonl is damaged"),
    ("passage missing", "do not hold the same passages"),
    ("truncated bm25", "bm25.npz: not a scratchml index file"),
    ("vectors missing", "vectors.npz: no such vector index file"),
    ("vectors of another collection", "do not hold the same passages"),
])
def test_a_damaged_index_is_refused_with_one_line(tmp_path, encoder_and_model, how, message):
    folder = tmp_path / "idx"
    build(documents(), encoder_and_model).save(folder)
    damage(folder, how)
    with pytest.raises(ScratchMLError, match=message) as error:
        Library.load(folder)
    assert "\n" not in str(error.value)


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(ScratchMLError, match="no index here; build one with: scratchml rag index"):
        Library.load(tmp_path / "absent")
