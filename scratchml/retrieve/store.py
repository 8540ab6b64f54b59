"""Index files: NumPy arrays and a JSON header in one ``.npz``, never pickled.

``np.load(..., allow_pickle=False)`` reads only plain arrays, so opening an index file someone sent
can never run code (a pickle can). The header is a JSON text stored as a 0-d string array; it names
the format and its version, so an old or foreign file is refused with a message, not misread.

Writes are atomic: the file is written under a temporary name, flushed to disk, then renamed over
the old one, so an interrupted build leaves the previous index intact.
"""

import json
import os
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.files import read_npz


def save_npz(path: str | Path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """Write one array to ``path`` as a ``.npy`` file (exactly that name), atomically like ``save_npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_npz(path: str | Path, fmt: str, version: int, what: str = "index") -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a file written by ``save_npz`` with header format ``fmt`` and ``version``."""
    path = Path(path)
    arrays = read_npz(path, what)
    try:
        header = json.loads(str(arrays.pop("header")))
        if header.get("format") != fmt:
            raise ValueError(f"format {header.get('format')!r}")
    except (KeyError, ValueError, AttributeError) as e:
        raise ScratchMLError(f"{path}: not a scratchml {what} file ({e})") from None
    if header.get("version") != version:
        raise ScratchMLError(f"{path}: {what} format version {header.get('version')!r}, this scratchml reads "
                             f"version {version}; rebuild the {what}")
    return header, arrays
