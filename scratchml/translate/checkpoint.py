"""Model directories and training checkpoints, written atomically, read without pickle.

A model directory holds three files:
    model.safetensors   weights (float32 while training; float16 in a shipped model)
    config.json         {"model": TransformerConfig, "train": ..., "progress": ...}
    tokenizer.json      the BPE tokenizer (scratchml.bpe format)
A training checkpoint adds ``train_state.safetensors``: optimizer moments and the RNG state.

The whole directory is written as ``DIR.tmp`` and then swapped in with renames (scratchml/files.py),
so an interrupted save leaves the previous checkpoint intact (``DIR.old`` if the swap itself was cut
short, which ``resolve`` reads).
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import resolve, swap_in
from scratchml.translate.config import TransformerConfig
from scratchml.translate.model import Transformer

FILES = ("model.safetensors", "config.json", "tokenizer.json")


def save_model_dir(path, model: Transformer, tokenizer: Tokenizer, meta: dict,
                   train_state: dict[str, torch.Tensor] | None = None, half: bool = False) -> None:
    """Write a model directory (and optionally the training state) atomically and durably."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dtype = torch.float16 if half else torch.float32
    weights = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps({"model": model.cfg.to_dict(), **meta}, indent=2))
    tokenizer.save(tmp / "tokenizer.json")
    if train_state is not None:
        save_file({k: v.cpu().contiguous() for k, v in train_state.items()}, tmp / "train_state.safetensors")
    swap_in(tmp, path)


def read_meta(path) -> dict:
    path = resolve(path)
    if path.exists() and not path.is_dir():
        raise ScratchMLError(f"{path} is a file; a model is the directory holding {', '.join(FILES)}")
    try:
        meta = json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise ScratchMLError(f"{path} is not a model directory (no config.json); "
                             f"expected {', '.join(FILES)}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScratchMLError(f"{path}/config.json is corrupt ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise ScratchMLError(f"{path}/config.json has no \"model\" section: not a scratchml translator")
    return meta


def load_model_dir(path, expect: TransformerConfig | None = None) -> tuple[Transformer, Tokenizer, dict]:
    """(model in eval mode, float32), tokenizer and metadata. ``expect``: refuse another config."""
    path = resolve(path)
    meta = read_meta(path)
    cfg = TransformerConfig.from_dict(meta["model"])
    if expect is not None and cfg != expect:
        raise ScratchMLError(f"{path} was trained with another model config ({cfg}), not {expect}")
    tokenizer = Tokenizer.load(path / "tokenizer.json")
    if tokenizer.vocab_size != cfg.vocab_size:
        raise ScratchMLError(f"{path}: tokenizer has {tokenizer.vocab_size} tokens, model expects {cfg.vocab_size}")
    model = Transformer(cfg)
    state = _load_tensors(path / "model.safetensors")
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise ScratchMLError(f"{path}/model.safetensors does not match its config.json (wrong shapes or names)")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval(), tokenizer, meta


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(file)
    except FileNotFoundError:
        raise ScratchMLError(f"{file} is missing") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ScratchMLError(f"{file} is corrupt or not a safetensors file ({e})") from None


def load_train_state(path) -> dict[str, torch.Tensor]:
    return _load_tensors(resolve(path) / "train_state.safetensors")
