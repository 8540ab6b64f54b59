"""``scratchml nmt datastore | neighbours`` and the ``--knn`` options of translate, eval and serve (kNN-MT)."""

import json
import sys
from pathlib import Path

from scratchml.cli.torch_options import THREADS_HELP, add_bf16, set_threads


def knn_decoder(args, translator):
    """The kNN-MT decoder of ``--knn``/``--memory``, or None."""
    if not (args.knn or getattr(args, "memory", None)):
        return None
    from scratchml.translate.datastore import load_or_build
    from scratchml.translate.knn import KNN

    return KNN(load_or_build(translator, args.datastore, progress=_progress()))


def _progress() -> bool:
    return sys.stderr is not None


def _datastore(args) -> None:
    from scratchml.retrieve.knn import fingerprint
    from scratchml.translate import Translator
    from scratchml.translate.datastore import KEY_COMPONENTS, build, cache_root, read_pairs_tsv, tatoeba_training_pairs

    set_threads(args.threads)
    pairs = read_pairs_tsv(args.pairs) if args.pairs else None
    translator = Translator.load(args.model, bf16=args.bf16)
    out = Path(args.out) if args.out else cache_root() / fingerprint(translator.model, translator.tokenizer)
    ds = build(translator, out, pairs or tatoeba_training_pairs(), progress=_progress(), nlist=args.nlist or None,
               components=KEY_COMPONENTS if args.components is None else args.components or None)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(json.dumps({"out": str(out), "pairs": ds.meta["pairs"], "entries": len(ds), "cells": ds.meta["nlist"],
                      "key_dim": ds.meta["key_dim"], "explained_variance": ds.meta["explained_variance"],
                      "bytes": size}))


def _neighbours(args) -> None:
    from scratchml.translate import Translator
    from scratchml.translate.datastore import load_or_build
    from scratchml.translate.explain import explain
    from scratchml.translate.knn import KNN

    set_threads(args.threads)
    translator = Translator.load(args.model, bf16=args.bf16)
    result = explain(translator, KNN(load_or_build(translator, args.datastore, progress=_progress())),
                     args.sentence, show=args.show)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{result['source']}  →  {result['translation']}")
    for step in result["steps"]:
        print(f"\n{step['token']!r}  λ = {step['lambda']:.2f}")
        for n in step["neighbours"]:
            print(f"    {n['token']!r:<12} d={n['distance']:<8} {n['source']}  →  {n['target']}")


def add_knn_options(p) -> None:
    p.add_argument("--knn", action="store_true", help="kNN-MT: consult the datastore of the model's training "
                   "pairs at every step (built on first use and cached)")
    p.add_argument("--datastore", default=None, help="the datastore folder for --knn (default: the model's cached one)")


def register_knn(nsub) -> None:
    ds = nsub.add_parser("datastore", help="build the kNN-MT datastore (default: the model's training pairs, cached)")
    ds.add_argument("--model", default=None, help="model directory (default: the shipped models/en-es)")
    ds.add_argument("--pairs", metavar="FILE", help="English<TAB>Spanish pairs instead of the Tatoeba training pairs")
    ds.add_argument("--out", help="the datastore folder (default: the model's cache, ~/.cache/scratchml/datastores)")
    ds.add_argument("--nlist", type=int, default=0, help="IVF cells (default: 4 √entries, at most 4096)")
    ds.add_argument("--components", type=int, default=None,
                    help="principal directions kept in each key (default: the translator's choice, "
                         "KEY_COMPONENTS in translate/datastore.py; 0: the whole state)")
    ds.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(ds)
    ds.set_defaults(func=_datastore)

    nb = nsub.add_parser("neighbours", help="for each output token, the stored examples kNN-MT retrieved, and λ")
    nb.add_argument("sentence")
    nb.add_argument("--model", default=None)
    nb.add_argument("--datastore", default=None, help="default: the model's cached datastore")
    nb.add_argument("--show", type=int, default=3, help="neighbours shown per token (default 3)")
    nb.add_argument("--json", action="store_true", help="one JSON object instead of text")
    nb.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(nb)
    nb.set_defaults(func=_neighbours)
