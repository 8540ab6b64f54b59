"""English->Spanish translation with a Transformer written from scratch (attention, masks,
positional encodings, decoding); PyTorch provides tensors, autograd and the optimizer.

``from scratchml.translate import Translator`` works as usual; the names are imported lazily so that
reading a config (``scratchml.translate.config``) does not pay for importing torch.
"""

import importlib

_EXPORTS = {
    "TransformerConfig": "config", "TrainConfig": "config", "PRESETS": "config", "preset": "config",
    "Transformer": "model", "Translator": "translator", "DEFAULT_MODEL": "translator",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"scratchml.translate.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scratchml.translate' has no attribute {name!r}")
