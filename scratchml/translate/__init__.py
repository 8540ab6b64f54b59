"""English->Spanish translation with a Transformer written from scratch (attention, masks,
positional encodings, decoding); PyTorch provides tensors, autograd and the optimizer.

``from scratchml.translate import Translator`` works as usual; the names are imported lazily so that
reading a config (``scratchml.translate.config``) does not pay for importing torch.
"""

import importlib

# public name -> (module, name in that module)
_EXPORTS = {
    "TransformerConfig": ("config", "TransformerConfig"), "TrainConfig": ("config", "TrainConfig"),
    "PRESETS": ("config", "PRESETS"), "preset": ("config", "preset"),
    "Transformer": ("model", "Transformer"), "Translator": ("translator", "Translator"),
    "LENGTH_PENALTY": ("translator", "LENGTH_PENALTY"), "MAX_BEAM": ("translator", "MAX_BEAM"),
    "train_translator": ("train", "train"), "evaluate_translator": ("evaluate", "evaluate"),
    "pick_device": ("distributed", "pick_device"), "init_distributed": ("distributed", "init_distributed"),
    "load_model_dir": ("checkpoint", "load_model_dir"), "save_model_dir": ("checkpoint", "save_model_dir"),
    "plot_attention": ("plots", "plot_attention"), "write_card": ("card", "write_card"),
    "KNN": ("knn", "KNN"), "load_datastore": ("datastore", "load_or_build"),
    "TranslationMemory": ("memory", "TranslationMemory"), "RetrievalTranslator": ("memory", "RetrievalTranslator"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(f"scratchml.translate.{module}"), attr)
    raise AttributeError(f"module 'scratchml.translate' has no attribute {name!r}")
