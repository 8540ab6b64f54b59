"""A GPT of our own, trained on IMDb movie reviews.

``model.py`` (the GPT), ``generate.py`` (sampling with a key/value cache), ``score.py`` (bits per
byte), ``imdb.py`` and ``data.py`` (the reviews as token streams), ``train.py`` (the recipe),
``checkpoint.py`` (model folders), ``hf.py`` (GPT-2 checkpoints of Hugging Face ``transformers``).

The names are imported lazily, so that reading the settings does not import torch. Generation is
``scratchml.llm.generate.generate``, not exported here: the function would share its module's name.
"""

import importlib

_EXPORTS = {"GPT": ("model", "GPT"), "GPTConfig": ("model", "GPTConfig"), "TrainConfig": ("config", "TrainConfig"),
            "Sampling": ("generate", "Sampling"),
            "bits_per_byte": ("score", "bits_per_byte"), "train_gpt": ("train", "train"),
            "export_hf": ("hf", "export_hf"), "import_hf": ("hf", "import_hf")}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(f"scratchml.llm.{module}"), attr)
    raise AttributeError(f"module 'scratchml.llm' has no attribute {name!r}")
