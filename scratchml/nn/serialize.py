"""Save and load a Sequential model as one ``.npz`` file: the weights plus a JSON architecture.

Layout inside the zip: ``architecture`` holds JSON text (a NumPy string array, not a pickle) like
``{"format": "scratchml.nn.Sequential", "version": 1, "layers": [{"type": "Linear", ...}, ...],
"meta": {...}}``, and ``layer<i>.<j>`` holds parameter j of layer i. Loading uses
``allow_pickle=False`` — a model file can never run code — and checks every name and shape, so a
file that is not ours fails with a ScratchMLError instead of a half-built model.
"""

import json
import os
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.files import read_npz
from scratchml.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from scratchml.nn.dropout import Dropout
from scratchml.nn.linear import Linear
from scratchml.nn.sequential import Sequential

FORMAT, VERSION = "scratchml.nn.Sequential", 1
LAYERS = {cls.__name__: cls for cls in (Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout)}


def save(model: Sequential, path: str | Path, meta: dict | None = None) -> None:
    """Write ``model`` to ``path`` atomically (a temp file renamed into place)."""
    path = Path(path)
    arch = {"format": FORMAT, "version": VERSION, "meta": meta or {},
            "layers": [{"type": type(layer).__name__, **layer.config()} for layer in model.layers]}
    arrays = {"architecture": np.array(json.dumps(arch))}
    for i, layer in enumerate(model.layers):
        for j, p in enumerate(layer.parameters()):
            arrays[f"layer{i}.{j}"] = p.data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)              # atomic: readers see the old file or the new, never half
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(path: str | Path) -> tuple[Sequential, dict]:
    """Read a model written by ``save``; returns (model, meta)."""
    path = Path(path)
    not_ours = f"{path}: not a scratchml model file"
    arrays = read_npz(path, "model")
    try:
        arch = json.loads(str(arrays.pop("architecture")))
        if arch.get("format") != FORMAT or arch.get("version") != VERSION:
            raise ValueError(f"format {arch.get('format')!r} version {arch.get('version')!r}")
        layers = [LAYERS[spec.pop("type")](**spec) for spec in arch["layers"]]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ScratchMLError(f"{not_ours} (bad architecture: {e})") from None
    for i, layer in enumerate(layers):
        for j, p in enumerate(layer.parameters()):
            a = arrays.pop(f"layer{i}.{j}", None)
            if a is None or a.shape != p.shape or a.dtype.kind != "f":
                raise ScratchMLError(f"{not_ours} (layer {i} parameter {j}: missing or wrong shape)")
            p.data = a.astype(p.data.dtype)                 # the hot path is float32 (see linear.py)
            p.grad = np.zeros_like(p.data)
    if arrays:
        raise ScratchMLError(f"{not_ours} (unexpected arrays {sorted(arrays)})")
    linear = [(i, layer) for i, layer in enumerate(layers) if hasattr(layer, "in_features")]
    for (i, a), (j, b) in zip(linear, linear[1:]):          # the other layers keep the width
        if a.out_features != b.in_features:
            raise ScratchMLError(f"{not_ours} (layer {i} gives {a.out_features} features "
                                 f"but layer {j} takes {b.in_features})")
    return Sequential(*layers), arch.get("meta", {})
