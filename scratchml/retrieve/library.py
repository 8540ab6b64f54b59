"""A library: passages searchable by their words (BM25), by their meaning (dense vectors), or both.

This is where the parts of ``scratchml.retrieve`` meet: the passages of your documents
(documents.py) are indexed by BM25 (bm25.py) and embedded by a sentence encoder (encoder.py) into a
vector index (vectors.py); a query is answered by either ranking, or by their reciprocal rank
fusion (fusion.py), and each result comes with the sentence that best answers the query
(citation.py).

Vector search is exact (one matrix product) up to ``EXACT_LIMIT`` passages, where it still takes
milliseconds; above, an IVF index with nlist = 4·sqrt(n) cells, the rule of thumb of faiss's
guidelines, probes ``NPROBE`` of them. Hybrid search fuses the top ``HYBRID_DEPTH`` of each ranking,
so a passage ranked 50th by one retriever and 3rd by the other can still come first.

Vectors are only comparable when one model made them, so the library records the model's
fingerprint (a hash of its files) and refuses to search or extend its vectors with another model.

On disk a library is one folder (library_folder.py).
"""

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.retrieve.bm25 import BM25
from scratchml.retrieve.citation import cite_dense, cite_lexical
from scratchml.retrieve.documents import CHUNK_WORDS, OVERLAP_WORDS, Passage, SourceDocument
from scratchml.retrieve.fusion import reciprocal_rank_fusion
from scratchml.retrieve.library_folder import load_folder, save_folder
from scratchml.retrieve.vectors import ExactIndex, IVFIndex

MODES = ("bm25", "dense", "hybrid")
EXACT_LIMIT = 50_000
NPROBE = 32
HYBRID_DEPTH = 100
MODEL_FILES = ("config.json", "vocab.txt", "model.safetensors")
NO_VECTORS = ("this index has no dense vectors (it was built with --no-dense): search it with --mode bm25, "
              "or rebuild it without --no-dense")

Ranking = list[tuple[int, float]]  # (passage row, score), best first


@dataclass(frozen=True)
class Hit:
    rank: int       # from 1
    score: float    # BM25, cosine, or RRF score, by the search mode
    passage: Passage
    sentence: str   # the passage's sentence that best answers the query (citation.py)


def model_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 over a BERT folder's files: equal fingerprints, equal vectors for equal texts."""
    h = hashlib.sha256()
    for name in MODEL_FILES:
        with open(Path(folder) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def load_encoder(model: str | os.PathLike | None = None):
    """(the encoder of the BERT folder ``model``, default all-MiniLM-L6-v2; what a library records of
    it: the folder as given, its fingerprint and its vectors' size)."""
    from scratchml.retrieve.encoder import Encoder, minilm_dir  # torch: only dense search needs it

    folder = minilm_dir(model)
    encoder = Encoder.load(folder)
    path = None if model is None else str(Path(model).resolve())  # None: wherever the default is installed
    return encoder, {"path": path, "sha256": model_fingerprint(folder), "dim": encoder.dim}


def vector_index(embeddings: np.ndarray) -> ExactIndex | IVFIndex:
    """Exact search for a collection of up to ``EXACT_LIMIT`` vectors, an inverted file above."""
    if len(embeddings) <= EXACT_LIMIT:
        return ExactIndex(embeddings)
    return IVFIndex.build(embeddings, nlist=round(4 * math.sqrt(len(embeddings))))


class Library:
    def __init__(self, passages: list[Passage], bm25: BM25, vectors: ExactIndex | IVFIndex | None = None,
                 model: dict | None = None, documents: dict[str, str] | None = None, chunking: dict | None = None):
        self.passages, self.bm25, self.vectors = passages, bm25, vectors
        self.model = model                    # the encoder that made the vectors (``load_encoder``)
        self.documents = documents or {}      # document id -> sha256 of its text (SourceDocument.sha256)
        self.chunking = chunking or {"words": CHUNK_WORDS, "overlap": OVERLAP_WORDS}
        self._row = {p.id: row for row, p in enumerate(passages)}

    @classmethod
    def build(cls, passages: list[Passage], embeddings: np.ndarray | None = None, model: dict | None = None,
              documents: dict[str, str] | None = None, chunking: dict | None = None) -> "Library":
        """Index ``passages``; ``embeddings`` (n, d), row i for passage i, made by ``model``, or None
        for a library searched by BM25 alone."""
        if not passages:
            raise ScratchMLError("no text to index: the documents hold no words")
        if len({p.id for p in passages}) != len(passages):
            raise ScratchMLError("two passages have the same id")
        bm25 = BM25.build([p.contents for p in passages], [p.id for p in passages])
        vectors = None if embeddings is None else vector_index(embeddings)
        return cls(passages, bm25, vectors, model, documents, chunking)

    @property
    def dense(self) -> bool:
        return self.vectors is not None

    def embeddings(self) -> np.ndarray:
        """(n, d) the passages' vectors, row i for passage i (an IVF index keeps them by cell)."""
        if isinstance(self.vectors, IVFIndex):
            return self.vectors.vectors[np.argsort(self.vectors.ids)]
        return self.vectors.vectors

    def known(self, docs: list[SourceDocument]) -> tuple[list, list, list]:
        """``docs`` split into (new, already in the library as they are, in it but changed since)."""
        new = [d for d in docs if d.id not in self.documents]
        same = [d for d in docs if self.documents.get(d.id) == d.sha256]
        changed = [d for d in docs if d.id in self.documents and self.documents[d.id] != d.sha256]
        return new, same, changed

    def extended(self, docs: list[SourceDocument], passages: list[Passage],
                 embeddings: np.ndarray | None = None) -> "Library":
        """A library with the documents ``docs`` (cut into ``passages``) added; the vectors of the
        passages already in it are kept as they are, ``embeddings`` are those of the new ones."""
        vectors = None if not self.dense else np.concatenate([self.embeddings(), embeddings])
        return Library.build(self.passages + passages, vectors, self.model,
                             {**self.documents, **{d.id: d.sha256 for d in docs}}, self.chunking)

    def encoder(self, model: str | os.PathLike | None = None):
        """The encoder that made this library's vectors: the folder ``model`` (default: the one the
        library was built with), refused when its fingerprint is another model's."""
        if not self.dense:
            raise ScratchMLError(NO_VECTORS)
        encoder, info = load_encoder(model if model is not None else self.model["path"])
        if info["sha256"] != self.model["sha256"]:
            raise ScratchMLError(f"the model {model or info['path'] or 'all-MiniLM-L6-v2'} is not the one that made "
                                 f"this index's vectors ({self.model['path'] or 'all-MiniLM-L6-v2'}): use that one, "
                                 "or rebuild the index")
        return encoder

    def search(self, query: str, k: int = 10, mode: str = "hybrid", encoder=None) -> list[Hit]:
        """The ``k`` best passages for ``query``, each with its citation. A query without an index term
        (empty, or only stopwords and punctuation) finds nothing in any mode: its embedding would be
        the encoder's guess at nothing, and the results noise."""
        self._check(k, mode)
        if not self.bm25.index.analyzer(query):
            return []
        vectors = self._encode(encoder, [query], mode)
        ranking = self._rank([query], vectors, k, mode)[0]
        texts = [self.passages[row].text for row, _ in ranking]
        cites = cite_lexical(texts, query, self.bm25.index) if mode == "bm25" else \
            cite_dense(texts, vectors[0], encoder)
        return [Hit(rank, score, self.passages[row], sentence)
                for rank, ((row, score), sentence) in enumerate(zip(ranking, cites), 1)]

    def search_batch(self, queries: Sequence[str], k: int = 10, mode: str = "hybrid", encoder=None) -> list[Ranking]:
        """The (passage row, score) lists of many queries, without citations (for evaluation)."""
        self._check(k, mode)
        return self._rank(queries, self._encode(encoder, list(queries), mode), k, mode)

    def _check(self, k: int, mode: str) -> None:
        if mode not in MODES:
            raise ScratchMLError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        if k < 1:
            raise ScratchMLError(f"k must be at least 1, got {k}")
        if mode != "bm25" and not self.dense:
            raise ScratchMLError(NO_VECTORS)

    def _encode(self, encoder, queries: list[str], mode: str) -> np.ndarray | None:
        """The queries' vectors (q, d) when the mode searches by them, else None."""
        if mode == "bm25":
            return None
        if encoder is None:
            raise ScratchMLError("dense and hybrid search need the encoder: pass library.encoder()")
        return encoder.encode(queries)

    def _rank(self, queries: Sequence[str], vectors: np.ndarray | None, k: int, mode: str) -> list[Ranking]:
        depth = max(k, HYBRID_DEPTH) if mode == "hybrid" else k
        if mode != "dense":
            lexical = [[(self._row[pid], float(score)) for pid, score in hits]
                       for hits in self.bm25.search_batch(queries, depth)]
        if mode != "bm25":
            options = {"nprobe": NPROBE} if isinstance(self.vectors, IVFIndex) else {}
            scores, rows = self.vectors.search(vectors, depth, **options)
            dense = [[(r, float(s)) for r, s in zip(row_ids, row_scores) if r >= 0]  # IVF pads with -1
                     for row_ids, row_scores in zip(rows.tolist(), scores.tolist())]
        if mode == "bm25":
            return lexical
        if mode == "dense":
            return dense
        fused = [reciprocal_rank_fusion([dict(a), dict(b)]) for a, b in zip(lexical, dense)]
        return [sorted(f.items(), key=lambda item: -item[1])[:k] for f in fused]

    def save(self, folder: str | os.PathLike) -> None:
        """Write the library to ``folder`` atomically (library_folder.py)."""
        save_folder(Path(folder), {"model": self.model, "documents": self.documents, "chunking": self.chunking},
                    self.passages, self.bm25, self.vectors)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "Library":
        """Read a library written by ``save``."""
        header, passages, bm25, vectors = load_folder(Path(folder))
        return cls(passages, bm25, vectors, header["model"], header["documents"], header["chunking"])
