"""A library on disk: one folder of plain files, replaced as a whole or not at all.

    scratchml-index.json   format, version, counts, the model that made the vectors, the documents
                           (id -> sha256 of the text) and the chunking settings
    passages.jsonl         one passage per line: id, document, number, offsets, line, title, source, text
    bm25.npz               the inverted index (index.py, store.py)
    vectors.npz            the vector index, exact or IVF (vectors.py); absent without dense vectors

Nothing is pickled (``np.load(allow_pickle=False)``, JSON), so opening an index someone sent can
never run code. A reader checks the format and version, then that every part holds the same
passages, so a truncated or mixed-up folder is refused with a message instead of giving wrong results.

Atomic replacement: the new library is written into a hidden folder next to the old
(``.NAME.xxxx.building``), then swapped in (scratchml/files.py: every file flushed to disk, the old
folder renamed to ``NAME.old``, the new one into place). Interrupted while building, the previous
index is untouched; cut off between the two renames, ``NAME.old`` is what a reader opens.
"""

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from scratchml.errors import ScratchMLError
from scratchml.files import resolve, swap_in
from scratchml.retrieve.bm25 import BM25
from scratchml.retrieve.documents import INDEX_MARKER, Passage
from scratchml.retrieve.index import InvertedIndex
from scratchml.retrieve.vectors import ExactIndex, IVFIndex

FORMAT, VERSION = "scratchml.retrieve.Library", 1
PASSAGES, BM25_FILE, VECTORS_FILE = "passages.jsonl", "bm25.npz", "vectors.npz"
VECTOR_KINDS = {"exact": ExactIndex, "ivf": IVFIndex}


def save_folder(folder: Path, header: dict, passages: list[Passage], bm25: BM25,
                vectors: ExactIndex | IVFIndex | None) -> None:
    """Write a library into ``folder``, replacing the library there (and only a library)."""
    if folder.exists() and not (folder / INDEX_MARKER).is_file() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScratchMLError(f"{folder} exists and is not a scratchml index; choose another output folder "
                             "(this one would be replaced)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".building", dir=folder.parent))
    try:
        lines = [json.dumps(dataclasses.asdict(p), ensure_ascii=False) + "\n" for p in passages]
        (tmp / PASSAGES).write_text("".join(lines), encoding="utf-8")
        bm25.index.save(tmp / BM25_FILE)
        kind = next((name for name, cls in VECTOR_KINDS.items() if isinstance(vectors, cls)), None)
        if vectors is not None:
            vectors.save(tmp / VECTORS_FILE)
        # the header last: a folder with a header has all its files
        info = {"format": FORMAT, "version": VERSION, "passages": len(passages), "vectors": kind,
                "bm25": {"k1": bm25.k1, "b": bm25.b}, **header}
        (tmp / INDEX_MARKER).write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
        swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_folder(folder: Path) -> tuple[dict, list[Passage], BM25, ExactIndex | IVFIndex | None]:
    """(header, passages, BM25 ranker, vector index or None) of a library folder."""
    folder = resolve(folder)
    if not folder.is_dir():
        raise ScratchMLError(f"{folder}: no index here; build one with: scratchml rag index PATH... --out {folder}")
    header_path = folder / INDEX_MARKER
    if not header_path.is_file():
        raise ScratchMLError(f"{folder} is not a scratchml index (it has no {INDEX_MARKER})")
    try:
        header = json.loads(header_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ScratchMLError(f"{header_path} is damaged (not JSON); rebuild the index") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ScratchMLError(f"{folder} is not a scratchml index ({INDEX_MARKER} names another format)")
    if header.get("version") != VERSION:
        raise ScratchMLError(f"{folder}: index format version {header.get('version')!r}, this scratchml reads "
                             f"version {VERSION}; rebuild the index")
    if not {"passages", "vectors", "bm25", "model", "documents", "chunking"} <= header.keys() \
            or header["vectors"] not in (None, *VECTOR_KINDS):
        raise ScratchMLError(f"{header_path} is incomplete; rebuild the index")
    passages = _read_passages(folder / PASSAGES)
    bm25 = BM25(InvertedIndex.load(folder / BM25_FILE), **header["bm25"])
    vectors = None if header["vectors"] is None else VECTOR_KINDS[header["vectors"]].load(folder / VECTORS_FILE)
    consistent = (len(passages) == header["passages"] and bm25.index.doc_ids == [p.id for p in passages]
                  and (vectors is None or (len(vectors) == len(passages) and header["model"] is not None
                                           and vectors.vectors.shape[1] == header["model"]["dim"])))
    if not consistent:
        raise ScratchMLError(f"{folder}: the index files do not hold the same passages (a partial copy?); "
                             "rebuild the index")
    return header, passages, bm25, vectors


def _read_passages(path: Path) -> list[Passage]:
    try:
        with open(path, encoding="utf-8") as f:
            return [Passage(**json.loads(line)) for line in f]
    except FileNotFoundError:
        raise ScratchMLError(f"{path} is missing; rebuild the index") from None
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError):  # cut off, or not our passages
        raise ScratchMLError(f"{path} is damaged (cut off, or not a passages file); rebuild the index") from None
