"""GPT model folders and training checkpoints, written atomically, read without pickle.

A model folder holds:
    model.safetensors   weights (float32 while training, float16 in a shipped model)
    config.json         {"format": "scratchml-gpt", "model": GPTConfig, ...what made it}
    tokenizer.json      the byte-level BPE (scratchml.bpe format)
A training checkpoint adds ``train_state.safetensors``: optimizer moments, RNG state, progress.

The folder is written as ``DIR.tmp`` and swapped in by renames (scratchml/files.py): an interrupted
save leaves the previous one readable.
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
from scratchml.llm.model import GPT, GPTConfig

FORMAT = "scratchml-gpt"
FILES = ("config.json", "model.safetensors", "tokenizer.json")


def save(path, model: GPT, tokenizer: Tokenizer, meta: dict, train_state: dict[str, torch.Tensor] | None = None,
         half: bool = False, extra_files: dict[str, str] | None = None) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dtype = torch.float16 if half else torch.float32
    save_file({k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()},
              tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps({"format": FORMAT, "model": model.cfg.to_dict(), **meta}, indent=1))
    tokenizer.save(tmp / "tokenizer.json")
    if train_state is not None:
        save_file({k: v.cpu().contiguous() for k, v in train_state.items()}, tmp / "train_state.safetensors")
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    swap_in(tmp, path)


def read_meta(path) -> dict:
    path = resolve(path)
    if not path.is_dir():
        raise ScratchMLError(f"{path} is not a model folder ({', '.join(FILES)})" if not path.exists() else
                             f"{path} is a file; a model is the folder holding {', '.join(FILES)}")
    try:
        meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScratchMLError(f"{path} has no config.json: not a model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScratchMLError(f"{path}/config.json is corrupt ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), dict):
        hint = " (a Hugging Face GPT-2 folder? convert it with scratchml llm import-hf)" \
            if isinstance(meta, dict) and meta.get("model_type") else ""
        raise ScratchMLError(f"{path} is not a scratchml GPT{hint}")
    return meta


def _tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(file)
    except FileNotFoundError:
        raise ScratchMLError(f"{file} is missing") from None
    except (SafetensorError, OSError) as e:
        raise ScratchMLError(f"{file} is not a readable safetensors file ({e})") from None


def load(path) -> tuple[GPT, Tokenizer, dict]:
    """A model folder -> (model in float32 and eval mode, tokenizer, config.json)."""
    meta = read_meta(path)
    path = resolve(path)
    try:
        cfg = GPTConfig(**meta["model"])
    except TypeError as e:
        raise ScratchMLError(f"{path}/config.json: the model settings do not fit this version ({e})") from None
    try:
        tokenizer = Tokenizer.load(path / "tokenizer.json")
    except FileNotFoundError:
        raise ScratchMLError(f"{path} has no tokenizer.json") from None
    if tokenizer.vocab_size != cfg.vocab_size:
        raise ScratchMLError(f"{path}: the tokenizer has {tokenizer.vocab_size} tokens, the model {cfg.vocab_size}")
    if cfg.eot_id not in tokenizer.special_tokens.values():
        raise ScratchMLError(f"{path}: the end-of-text id {cfg.eot_id} is not a special token of its tokenizer")
    try:
        model = GPT(cfg)
    except ValueError as e:  # e.g. a width that the heads do not divide
        raise ScratchMLError(f"{path}/config.json: {e}") from None
    weights = _tensors(path / "model.safetensors")
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in weights:
            raise ScratchMLError(f"{path}/model.safetensors has no tensor {name}")
        if weights[name].shape != tensor.shape:
            raise ScratchMLError(f"{path}/model.safetensors: {name} has shape {tuple(weights[name].shape)}, "
                                 f"config.json makes it {tuple(tensor.shape)}")
    model.load_state_dict({k: weights[k].float() for k in expected})
    return model.eval(), tokenizer, meta


def load_train_state(path) -> dict[str, torch.Tensor]:
    return _tensors(resolve(path) / "train_state.safetensors")
