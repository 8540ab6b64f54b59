"""The dataset cache: find a file, verify its checksum, download it if it is missing.

The cache root is ``$SCRATCHML_DATA`` (default ``~/.cache/scratchml``). A file that is present is
checksummed once per process; a wrong checksum is an error, never silently re-used.
"""

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from scratchml.data.registry import DATASETS, DataFile, Dataset
from scratchml.errors import ScratchMLError

_VERIFIED: set[Path] = set()


def cache_dir() -> Path:
    return Path(os.environ.get("SCRATCHML_DATA", "~/.cache/scratchml")).expanduser()


def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ScratchMLError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, expected: str) -> None:
    """Raise a ScratchMLError naming the file if its sha256 is not ``expected``."""
    path = Path(path)
    if path in _VERIFIED:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ScratchMLError(
            f"{path}: checksum mismatch (sha256 {actual[:12]}…, expected {expected[:12]}…); "
            f"the file is corrupt or truncated — delete it and run again to re-download")
    _VERIFIED.add(path)


def _download(url: str, dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    except OSError as e:
        raise ScratchMLError(f"{dest} is missing and the dataset cache {dest.parent} cannot be written "
                             f"({e.strerror}); set SCRATCHML_DATA to a writable folder") from None
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)  # atomic: a cut-off download never looks like a complete file
    except (OSError, http.client.HTTPException) as e:  # no network, HTTP error, cut-off transfer
        Path(tmp).unlink(missing_ok=True)
        raise ScratchMLError(
            f"{dest} is missing and downloading it from {url} failed ({e}); download it by hand "
            f"to that path, or set SCRATCHML_DATA to a folder that has it") from None


def _extract(archive: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z, z.open(member) as src:
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ScratchMLError(f"{archive}: cannot extract {member} ({e})") from None


def fetch(dataset: str, filename: str, download: bool = True) -> Path:
    """Path of ``dataset/filename`` in the cache, verified; downloaded (or extracted) if missing."""
    ds = _dataset(dataset)
    try:
        spec: DataFile = ds.file(filename)
    except KeyError as e:
        raise ScratchMLError(str(e.args[0])) from None
    path = cache_dir() / ds.name / spec.name
    if not path.exists():
        if not download:
            raise ScratchMLError(f"{path} is missing; set SCRATCHML_DATA to the dataset cache")
        if spec.extract_from:
            archive_name, member = spec.extract_from
            _extract(fetch(dataset, archive_name), member, path)
        else:
            if spec.url is None:
                raise ScratchMLError(f"{path} is missing and has no download source")
            _download(spec.url, path)
    verify(path, spec.sha256)
    return path


def dataset_path(dataset: str) -> Path:
    """Folder of ``dataset`` in the cache, with every file present and verified."""
    ds = _dataset(dataset)
    for f in ds.files:
        fetch(dataset, f.name)
    return cache_dir() / ds.name


def available(dataset: str) -> bool:
    """True if every file of ``dataset`` is already in the cache (no download, no checksum)."""
    ds = _dataset(dataset)
    return all((cache_dir() / ds.name / f.name).exists() for f in ds.files)
