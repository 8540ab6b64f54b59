"""Files written whole or not at all: what every checkpoint, model folder and index relies on.

A file or folder is written under a temporary name and renamed into place: a rename is atomic, so
a reader (or a crash) sees the old version or the new one, never half of one. Every file and folder
is fsynced before the rename that publishes it: the OS may otherwise write the rename to disk before
the data, and a power loss would leave empty files under the final name.

A folder cannot be replaced by one rename, so ``swap_in`` takes two: the old folder to ``NAME.old``,
the new one to ``NAME``. A crash between them leaves only ``NAME.old``, which ``resolve`` reads.

Arrays are read back with ``read_npz``: plain arrays only (``allow_pickle=False``), so opening a file
someone sent can never run code.
"""

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError


def fsync(path: Path) -> None:
    """Make ``path``'s content durable: a file's bytes, or a folder's list of names (which is where a
    new file or a rename lives until the folder itself is synced). Windows cannot open a folder: there
    only files are synced."""
    if os.name == "nt" and Path(path).is_dir():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path, text: str) -> None:
    """Write a text file whole or not at all (a crash or a full disk leaves the previous one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    fsync(tmp)
    os.replace(tmp, path)
    fsync(path.parent)


def swap_in(tmp: Path, final: Path) -> None:
    """Publish the finished folder ``tmp`` as ``final``, replacing the folder there. Everything in
    ``tmp`` is fsynced first."""
    for file in sorted(tmp.rglob("*"), reverse=True):  # files before the folders that hold them
        fsync(file)
    fsync(tmp)
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync(final.parent)  # the renames are on disk before the previous copy goes
    shutil.rmtree(old, ignore_errors=True)


def resolve(path) -> Path:
    """The folder to read: ``path``, or ``path.old`` if a ``swap_in`` was cut off between its renames."""
    path = Path(path)
    old = path.with_name(path.name + ".old")
    return old if not path.exists() and old.exists() else path


def refuse_fresh_start(path, how_to_resume: str = "resume it") -> None:
    """Refuse a new training run over the checkpoint ``path``: the run's first save would replace it.
    The checkpoint may also be ``path.old`` alone, when a save was cut off between its two renames
    (``resolve`` reads it, so it can be resumed). ``path.tmp`` alone is a first save that never
    finished, or another run's save in progress in the same folder: that is why it is reported, not
    deleted."""
    path = Path(path)
    for existing in (path, path.with_name(path.name + ".old")):
        if existing.exists():
            raise ScratchMLError(f"{existing} already holds a checkpoint: {how_to_resume}, or choose another "
                                 "output folder")
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        raise ScratchMLError(f"{tmp} is a checkpoint save that never finished (the run was interrupted, or another "
                             "run is saving into this folder now): delete it, or choose another output folder")


def read_npz(path, what: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path``; a missing, truncated or foreign file is a one-line
    error naming ``what`` it should be ("model", "index")."""
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a bare .npy array, not an .npz archive")
        with npz:
            return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ScratchMLError(f"{path}: no such {what} file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # truncated, or not ours at all
        raise ScratchMLError(f"{path}: not a scratchml {what} file ({e})") from None
