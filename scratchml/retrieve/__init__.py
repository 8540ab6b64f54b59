"""Retrieval: find the documents of a collection that answer a query, and measure how well.

Lexical retrieval is ``analysis.py`` (text to terms), ``index.py`` (the inverted index) and
``bm25.py`` (the ranking function). Dense retrieval is ``wordpiece.py`` (BERT's tokenizer),
``bert.py`` (the encoder) and ``encoder.py`` (text to one unit vector), searched by ``vectors.py``
(exact, and an inverted file over ``kmeans.py``'s cells); ``store.py`` writes index files, and ``fusion.py`` merges
rankings (hybrid search).
``metrics.py`` scores a ranking against human judgments, and ``scifact.py`` loads the BEIR SciFact
benchmark.
Your own documents: ``documents.py`` reads files and cuts them into passages, ``library.py`` makes
them searchable by all of the above (saved by ``library_folder.py``), with a cited sentence per
result (``citation.py``); ``evaluation.py`` measures a library on SciFact.

The names are imported lazily, so that using one part does not import what another part needs.
Fine-tuning the encoder is ``finetune.finetune`` (``scratchml.retrieve.finetune``), not exported here:
the function would share its name with its module.
"""

import importlib

# public name -> (module, name in that module)
_EXPORTS = {
    "Analyzer": ("analysis", "Analyzer"), "LUCENE_STOPWORDS": ("analysis", "LUCENE_STOPWORDS"),
    "InvertedIndex": ("index", "InvertedIndex"),
    "BM25": ("bm25", "BM25"),
    "ndcg_at_k": ("metrics", "ndcg_at_k"), "recall_at_k": ("metrics", "recall_at_k"),
    "mrr_at_k": ("metrics", "mrr_at_k"), "evaluate": ("metrics", "evaluate"),
    "WordPiece": ("wordpiece", "WordPiece"), "Encoding": ("wordpiece", "Encoding"),
    "Bert": ("bert", "Bert"), "BertConfig": ("bert", "BertConfig"),
    "Encoder": ("encoder", "Encoder"), "minilm_dir": ("encoder", "minilm_dir"),
    "ExactIndex": ("vectors", "ExactIndex"), "IVFIndex": ("vectors", "IVFIndex"), "kmeans": ("kmeans", "kmeans"),
    "RetrievalData": ("pairs", "RetrievalData"),
    "reciprocal_rank_fusion": ("fusion", "reciprocal_rank_fusion"),
    "convex_combination": ("fusion", "convex_combination"),
    "Document": ("scifact", "Document"), "load_corpus": ("scifact", "load_corpus"),
    "load_queries": ("scifact", "load_queries"), "load_qrels": ("scifact", "load_qrels"),
    "SourceDocument": ("documents", "SourceDocument"), "Passage": ("documents", "Passage"),
    "find_files": ("documents", "find_files"), "read_documents": ("documents", "read_documents"),
    "passages_of": ("documents", "passages_of"), "CHUNK_WORDS": ("documents", "CHUNK_WORDS"),
    "OVERLAP_WORDS": ("documents", "OVERLAP_WORDS"),
    "Library": ("library", "Library"), "Hit": ("library", "Hit"), "load_encoder": ("library", "load_encoder"),
    "evaluate_scifact": ("evaluation", "evaluate_scifact"), "save_npy": ("store", "save_npy"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(f"scratchml.retrieve.{module}"), attr)
    raise AttributeError(f"module 'scratchml.retrieve' has no attribute {name!r}")
