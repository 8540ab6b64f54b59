"""The IDX reader against files written byte by byte here, independent of our writer."""

import gzip
import struct

import numpy as np
import pytest

from scratchml.data import read_idx, write_idx
from scratchml.errors import ScratchMLError


def _handmade_idx(array: np.ndarray) -> bytes:
    # Magic: 0x00 0x00, type 0x08 (uint8), ndim; then big-endian uint32 sizes; then raw bytes.
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 28, 28)])
@pytest.mark.parametrize("compress", [False, True])
def test_reads_handmade_files(tmp_path, shape, compress):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=shape, dtype=np.uint8)
    raw = _handmade_idx(array)
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_write_then_read_roundtrip(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if dtype != np.uint8 else np.arange(24, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    out = read_idx(tmp_path / "a.gz")
    assert out.dtype == np.dtype(dtype) and np.array_equal(out, array)


def test_writer_matches_handmade_bytes(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.idx", array)
    assert (tmp_path / "a.idx").read_bytes() == _handmade_idx(array)


@pytest.mark.parametrize("raw, message", [
    (b"", "bad magic"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "bad magic"),
    (b"\x00\x00\x08\x03\x00\x00", "header truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated or corrupt"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "truncated or corrupt"),
])
def test_corrupt_files_raise_clear_errors(tmp_path, raw, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(ScratchMLError, match=message):
        read_idx(path)


def test_broken_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(_handmade_idx(np.zeros((4, 4), np.uint8)))[:-10])
    with pytest.raises(ScratchMLError, match="bad.gz"):
        read_idx(path)
