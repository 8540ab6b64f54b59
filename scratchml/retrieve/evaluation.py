"""How well does a library find things? BEIR SciFact, measured through the same search as your documents.

Each of SciFact's 5,183 abstracts becomes one passage (title + " " + abstract, as BEIR's baselines
index it), so the figures are comparable with published ones: BM25's nDCG@10 is 0.680 here, 0.679
in Anserini's BEIR baselines. The run keeps the top 100 of every query, enough for recall@100.

Speed is measured on the search step alone, all queries in one batch, as queries per second: for
dense and hybrid search it includes encoding the queries, not the corpus, which is done once.

Encoding the corpus takes minutes on a CPU, so its vectors are cached in a ``.npy`` file named by
the model's fingerprint and a hash of the texts: a second run with the same model and corpus
reads them back in milliseconds, and a change to either makes a new file instead of a wrong answer.
"""

import hashlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.retrieve.documents import Passage
from scratchml.retrieve.library import MODES, Library, load_encoder
from scratchml.retrieve.metrics import evaluate
from scratchml.retrieve.scifact import load_corpus, load_qrels, load_queries
from scratchml.retrieve.store import save_npy

log = logging.getLogger("scratchml.retrieve")
DEPTH = 100  # results kept per query: recall@100 needs them


def cached_embeddings(encoder, texts: list[str], fingerprint: str, cache: Path, progress: bool = False) -> np.ndarray:
    """``encoder.encode(texts)``, read from ``cache`` when a run with the same model and texts wrote it."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8") + b"\0")
    path = cache / f"{fingerprint[:16]}-{h.hexdigest()[:16]}.npy"
    if path.is_file():
        try:
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape == (len(texts), encoder.dim) and vectors.dtype == np.float32:
                return vectors
        except (OSError, ValueError, EOFError):  # cut off: encode again, and replace it
            pass
    vectors = encoder.encode(texts, progress=progress)
    try:
        save_npy(path, vectors)
    except OSError as e:  # a read-only cache costs the next run the encoding, nothing more
        log.warning("could not cache the vectors in %s: %s", cache, e.strerror or e)
    return vectors


def default_cache() -> Path:
    """Derived data, kept apart from the datasets (which may be a read-only folder):
    $XDG_CACHE_HOME/scratchml-embeddings, by default ~/.cache/scratchml-embeddings."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scratchml-embeddings"


def evaluate_scifact(mode: str = "bm25", split: str = "test", model: str | os.PathLike | None = None,
                     cache: str | os.PathLike | None = None, progress: bool = False) -> dict:
    """nDCG@10, recall@100, MRR@10 and queries per second of ``mode`` on SciFact's ``split``."""
    if mode not in MODES:  # before minutes of encoding, not after
        raise ScratchMLError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    queries, qrels = load_queries(split), load_qrels(split)
    passages = [Passage(d.id, d.id, 1, 0, len(d.text), line, d.title, "scifact/corpus.jsonl", d.text)
                for line, d in enumerate(load_corpus(), 1)]
    encoder = embeddings = info = None
    if mode != "bm25":
        encoder, info = load_encoder(model)
        embeddings = cached_embeddings(encoder, [p.contents for p in passages], info["sha256"],
                                       Path(cache) if cache else default_cache(), progress)
    library = Library.build(passages, embeddings, info)
    start = time.perf_counter()
    rankings = library.search_batch(list(queries.values()), DEPTH, mode, encoder)
    seconds = time.perf_counter() - start
    run = {qid: {library.passages[row].id: score for row, score in ranking}
           for qid, ranking in zip(queries, rankings)}
    return {"dataset": "scifact", "split": split, "mode": mode, "queries": len(queries),
            **{name: round(value, 4) for name, value in evaluate(qrels, run).items()},
            "qps": round(len(queries) / seconds, 1)}
