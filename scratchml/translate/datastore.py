"""The translator's datastore for kNN-MT (knn.py): built once over its Tatoeba training pairs, cached.

Which pairs: the Tatoeba pairs of the training split (spa.txt without the validation sentences),
about 117,000 pairs and 1.2 M target tokens. The decoder's 256-wide states are stored as their
coordinates along their KEY_COMPONENTS principal directions (retrieve/pca.py): 4 times fewer bytes
for every search to read, and no worse BLEU on the validation split (docs/rag.md). News Commentary, the
translator's other training corpus, would add 9 M tokens and is left out;
``scratchml nmt datastore --pairs FILE`` builds a store over any tab-separated pairs instead (a
domain's own translations, as in the paper's domain-adaptation experiments). Test pairs are never in
it: the unseen Tatoeba-test subset is by definition absent from spa.txt.

The cache is ``$SCRATCHML_CACHE/datastores/<model fingerprint>`` (default ``~/.cache/scratchml``): a
datastore belongs to one model, and a retrained model gets its own.
"""

import logging
import os
from pathlib import Path

from scratchml.errors import ScratchMLError
from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import fingerprint
from scratchml.translate.knn import teacher_forced_keys

log = logging.getLogger("scratchml.translate")

KEY_COMPONENTS = 64  # principal directions kept in a key: chosen on the validation split (docs/rag.md)


def cache_root() -> Path:
    return Path(os.environ.get("SCRATCHML_CACHE", "~/.cache/scratchml")).expanduser() / "datastores"


def tatoeba_training_pairs() -> list[tuple[str, str]]:
    from scratchml.translate.corpus import load_pairs, make_splits

    return make_splits(load_pairs()).train


def read_pairs_tsv(path) -> list[tuple[str, str]]:
    """English<TAB>Spanish lines; a malformed line is an error that names it, and nothing is read."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ScratchMLError(f"cannot read {path}: {e.strerror or e}") from None
    pairs = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise ScratchMLError(f"{path} line {n} is not UTF-8") from None
        parts = text.split("\t")
        if len(parts) != 2:
            raise ScratchMLError(f"{path} line {n}: expected English<TAB>Spanish, found {len(parts)} column(s)")
        en, es = parts[0].strip(), parts[1].strip()
        if not en or not es:
            raise ScratchMLError(f"{path} line {n}: the {'English' if not en else 'Spanish'} side is empty")
        pairs.append((en, es))
    if not pairs:
        raise ScratchMLError(f"{path} holds no sentence pairs")
    return pairs


def entries_of(translator, pairs: list[tuple[str, str]], progress: bool = True):
    """(keys, values, origins) of ``pairs`` under the translator, one entry per target token."""
    limit = translator.cfg.max_len - 1
    src = translator.encode_sources([en for en, _ in pairs])
    tgt = translator.tokenizer.encode_batch([es for _, es in pairs], allow_special=False)
    too_long = [i + 1 for i, (s, t) in enumerate(zip(src, tgt)) if len(s) > limit or len(t) > limit]
    if too_long:
        raise ScratchMLError(f"pair {too_long[0]} is longer than the model's {limit} tokens")
    return teacher_forced_keys(translator.model, src, tgt, bf16=translator.bf16, progress=progress)


def build(translator, path, pairs: list[tuple[str, str]], progress: bool = True, nlist: int | None = None,
          components: int | None = KEY_COMPONENTS) -> Datastore:
    """A datastore over ``pairs``: keys of ``components`` principal directions (None: the full state)."""
    keys, values, origins = entries_of(translator, pairs, progress)
    log.info("datastore: %d entries from %d pairs; clustering the keys", len(values), len(pairs))
    examples = [{"source": en, "target": es} for en, es in pairs]
    return Datastore.build(path, keys, values, origins, examples, fingerprint(translator.model, translator.tokenizer),
                           nlist=nlist, components=components, info={"pairs": len(pairs)})


def load_or_build(translator, path=None, progress: bool = True) -> Datastore:
    """The datastore at ``path``, or the cached one of this model, built over its training pairs on first use."""
    fp = fingerprint(translator.model, translator.tokenizer)
    if path is not None:
        return Datastore.load(path, fp)
    cached = cache_root() / fp
    if (cached / "meta.json").exists():
        ds = Datastore.load(cached, fp)
        if ds.meta.get("key_dim") == min(KEY_COMPONENTS, translator.cfg.d_model):
            return ds
        log.warning("the cached datastore %s was made by an older scratchml (keys of another width)", cached)
    log.warning("building the kNN-MT datastore of this model once, into %s (a few minutes)", cached)
    return build(translator, cached, tatoeba_training_pairs(), progress, components=KEY_COMPONENTS)
