"""Reader and writer for the IDX format of MNIST (yann.lecun.com/exdb/mnist).

Layout, big-endian: two zero bytes, a type code (0x08 = uint8 …), the number of dimensions ``n``,
then ``n`` uint32 sizes, then the data in C order. ``.gz`` files are decompressed on the fly.
"""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder(">").str: k for k, v in _DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise ScratchMLError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as e:
        raise ScratchMLError(f"{path}: not a readable gzip/IDX file ({e})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file into a NumPy array, checking magic number, dimensions and size."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ScratchMLError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ScratchMLError(f"{path}: IDX header truncated ({len(raw)} bytes, {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ScratchMLError(
            f"{path}: IDX data is {len(raw) - header} bytes but the header {dims} needs {expected} "
            f"(file truncated or corrupt)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in .gz)."""
    path = Path(path)
    big = np.ascontiguousarray(array).astype(array.dtype.newbyteorder(">"))
    code = _CODES.get(big.dtype.str)
    if code is None:
        raise ScratchMLError(f"IDX cannot store dtype {array.dtype}")
    payload = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
