"""Saving and loading models: an exact round trip, and clean errors for files that are not ours."""

import json
import zipfile

import numpy as np
import pytest

from scratchml import nn
from scratchml.errors import ScratchMLError


def model():
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(6, 5, rng=rng), nn.LeakyReLU(0.2), nn.Dropout(0.1),
                         nn.Linear(5, 4, rng=rng), nn.Tanh(), nn.Linear(4, 3, rng=rng), nn.Sigmoid())


def test_round_trip(tmp_path):
    m = model()
    m.flat.data[:] = np.random.default_rng(1).standard_normal(m.flat.size)
    nn.save(m, tmp_path / "m.npz", meta={"note": "hi"})
    loaded, meta = nn.load(tmp_path / "m.npz")
    assert meta == {"note": "hi"}
    assert [type(a) for a in loaded.layers] == [type(b) for b in m.layers]
    assert loaded.layers[1].slope == 0.2 and loaded.layers[2].p == 0.1
    np.testing.assert_array_equal(loaded.flat.data, m.flat.data)
    x = np.random.default_rng(2).standard_normal((7, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), m.predict(x))
    assert not list(tmp_path.glob("*.tmp")), "atomic write leaves no temp file"


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _arch(layers):
    return np.array(json.dumps({"format": "scratchml.nn.Sequential", "version": 1, "layers": layers}))


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(b"hello, not a zip"),
    lambda p: p.write_bytes(b""),
    lambda p: zipfile.ZipFile(p, "w").close(),
    lambda p: np.save(open(p, "wb"), np.zeros(3)),
    lambda p: _npz(p, weights=np.zeros(3)),
    lambda p: _npz(p, architecture=np.array([{"evil": 1}], dtype=object)),   # a pickle inside
    lambda p: _npz(p, architecture=np.array("{not json")),
    lambda p: _npz(p, architecture=np.array(json.dumps({"format": "other", "version": 1}))),
    lambda p: _npz(p, architecture=_arch([{"type": "Conv2d"}])),
    lambda p: _npz(p, architecture=_arch([{"type": "Linear", "in_features": 2, "out_features": 2}]),
                   **{"layer0.0": np.zeros((3, 2)), "layer0.1": np.zeros(2)}),
    lambda p: _npz(p, architecture=_arch([{"type": "Linear", "in_features": 2, "out_features": 2}]),
                   **{"layer0.0": np.zeros((2, 2)), "layer0.1": np.zeros(2), "extra": np.zeros(1)}),
    lambda p: _npz(p, architecture=_arch([{"type": "Linear", "in_features": 2, "out_features": 3},
                                          {"type": "ReLU"},
                                          {"type": "Linear", "in_features": 4, "out_features": 2}]),
                   **{"layer0.0": np.zeros((2, 3)), "layer0.1": np.zeros(3),
                      "layer2.0": np.zeros((4, 2)), "layer2.1": np.zeros(2)}),
], ids=["text", "empty", "empty-zip", "npy", "no-architecture", "pickle", "bad-json", "other-format",
        "unknown-layer", "wrong-shape", "extra-array", "layers-do-not-connect"])
def test_files_that_are_not_ours(tmp_path, make):
    path = tmp_path / "model.npz"
    make(path)
    with pytest.raises(ScratchMLError, match="not a scratchml model file"):
        nn.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ScratchMLError, match="no such model file"):
        nn.load(tmp_path / "nope.npz")


def test_float64_weights_load_as_float32_and_run(tmp_path):
    rng = np.random.default_rng(0)
    m = nn.Sequential(nn.Linear(6, 3, rng=rng, dtype=np.float64))
    nn.save(m, tmp_path / "m.npz")
    loaded, _ = nn.load(tmp_path / "m.npz")
    assert loaded.flat.data.dtype == np.float32
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x), x.astype(np.float64) @ m.layers[0].weight.data, rtol=1e-5)
