"""Our GPT <-> the GPT-2 checkpoint format of Hugging Face ``transformers``.

The architectures are the same (model.py), so converting is renaming and one transposition:
GPT-2's linear layers are ``Conv1D`` modules that store the weight as (in, out), where
``nn.Linear`` stores (out, in). The output layer is tied to the token embeddings on both sides.

Export writes a folder that ``GPT2LMHeadModel.from_pretrained`` and
``PreTrainedTokenizerFast.from_pretrained`` load: ``config.json``, ``model.safetensors``,
``tokenizer.json`` (``scratchml.bpe.export.to_hf``: the same ids as ours), ``tokenizer_config.json``
(the end-of-text token as ``eos_token``, ``bos_token`` and ``unk_token``, as GPT-2 has it).

Import reads such a folder, GPT-2 124M included, into our model and our tokenizer. A Hugging Face
byte-level BPE numbers its tokens its own way (GPT-2 gives id 0 to "!", where ours gives the bytes
their own values 0-255), so the tokenizer is rebuilt from the merges list and the embedding rows are
permuted to our ids: the same text then gets the same logits, token for token.
Only safetensors weights are read: a ``pytorch_model.bin`` is a pickle, which can run code when
loaded (convert it first with ``transformers``: ``save_pretrained(dir, safe_serialization=True)``).
"""

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scratchml.bpe import Tokenizer
from scratchml.bpe.export import bytes_to_unicode, to_hf
from scratchml.errors import ScratchMLError
from scratchml.files import swap_in
from scratchml.llm.model import GPT, GPTConfig

# GPT-2's pre-tokenizer, applied by HF's ByteLevel(use_regex=True) (Radford et al. 2019, openai/gpt-2 encoder.py)
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ACTIVATION_NAMES = {"gelu_tanh": "gelu_new", "gelu": "gelu"}  # ours -> transformers' name
ACTIVATIONS_FROM_HF = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}


def _hf_names(n_layers: int) -> dict[str, tuple[str, bool]]:
    """Our parameter name -> (GPT-2's name without the "transformer." prefix, transposed?)."""
    names = {"tokens.weight": ("wte.weight", False), "positions.weight": ("wpe.weight", False),
             "ln.weight": ("ln_f.weight", False), "ln.bias": ("ln_f.bias", False)}
    for i in range(n_layers):
        for ours, theirs in [("ln1", "ln_1"), ("ln2", "ln_2"), ("attn.qkv", "attn.c_attn"),
                             ("attn.proj", "attn.c_proj"), ("ffn.up", "mlp.c_fc"), ("ffn.down", "mlp.c_proj")]:
            names[f"layers.{i}.{ours}.weight"] = (f"h.{i}.{theirs}.weight", not ours.startswith("ln"))
            names[f"layers.{i}.{ours}.bias"] = (f"h.{i}.{theirs}.bias", False)
    return names


def hf_config(cfg: GPTConfig) -> dict:
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": cfg.vocab_size,
            "n_positions": cfg.context, "n_ctx": cfg.context, "n_embd": cfg.d_model, "n_layer": cfg.n_layers,
            "n_head": cfg.n_heads, "n_inner": cfg.d_ff, "activation_function": ACTIVATION_NAMES[cfg.activation],
            "layer_norm_epsilon": 1e-5, "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout,
            "attn_pdrop": cfg.dropout, "initializer_range": 0.02, "scale_attn_weights": True,
            "tie_word_embeddings": True, "bos_token_id": cfg.eot_id, "eos_token_id": cfg.eot_id}


def export_hf(model: GPT, tokenizer: Tokenizer, out: str | os.PathLike) -> Path:
    """Write ``model`` and ``tokenizer`` as a GPT-2 folder at ``out`` (replaced as a whole)."""
    cfg = model.cfg
    eot = tokenizer.token_bytes(cfg.eot_id).decode("utf-8")
    state = model.state_dict()
    weights = {f"transformer.{theirs}": (state[ours].T if transpose else state[ours]).detach().float().contiguous()
               for ours, (theirs, transpose) in _hf_names(cfg.n_layers).items()}
    out = Path(out)
    folder = out.with_name(out.name + ".tmp")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_config(cfg), indent=1))
    (folder / "tokenizer.json").write_text(json.dumps(to_hf(tokenizer), ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": cfg.context,
        "eos_token": eot, "bos_token": eot, "unk_token": eot, "clean_up_tokenization_spaces": False}, indent=1))
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"eos_token": eot, "bos_token": eot, "unk_token": eot}, indent=1))
    swap_in(folder, out)
    return out


# ---- import ---------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise ScratchMLError(f"{path.parent} has no {path.name}: pass a Hugging Face GPT-2 folder")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScratchMLError(f"{path} is not JSON: {e}") from None
    if not isinstance(content, dict):
        raise ScratchMLError(f"{path} is not a JSON object")
    return content


def config_from_hf(config: dict, eot_id: int, vocab_size: int) -> GPTConfig:
    if config.get("model_type") != "gpt2":
        raise ScratchMLError(f"config.json has model_type {config.get('model_type')!r}: only GPT-2 models load here")
    act = config.get("activation_function", "gelu_new")
    inner = config.get("n_inner") or 4 * config["n_embd"]
    problems = [text for bad, text in [
        (act not in ACTIVATIONS_FROM_HF, f"activation_function {act!r}"),
        (inner != 4 * config["n_embd"], f"n_inner {inner} (ours is 4 x n_embd)"),
        (abs(config.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12, "a layer_norm_epsilon other than 1e-5"),
        (config.get("scale_attn_by_inverse_layer_idx", False), "scale_attn_by_inverse_layer_idx"),
        (not config.get("scale_attn_weights", True), "unscaled attention"),
        (not config.get("tie_word_embeddings", True), "an output layer of its own (untied)"),
        (not config["n_head"] or config["n_embd"] % config["n_head"], "n_embd not divisible by n_head"),
    ] if bad]
    if problems:
        raise ScratchMLError("this GPT-2 differs from our architecture: " + ", ".join(problems))
    return GPTConfig(vocab_size=vocab_size, context=config["n_positions"], d_model=config["n_embd"],
                     n_layers=config["n_layer"], n_heads=config["n_head"], activation=ACTIVATIONS_FROM_HF[act],
                     eot_id=eot_id)


def tokenizer_from_hf(tokenizer_json: dict, eos_token: str | None) -> tuple[Tokenizer, list[int], int]:
    """A HF byte-level BPE -> (our tokenizer, its id -> the HF id, our id of the end-of-text token)."""
    try:
        return _tokenizer_from_hf(tokenizer_json, eos_token)
    except (KeyError, ValueError, TypeError, AttributeError) as e:  # a file that is not what it claims
        raise ScratchMLError(f"tokenizer.json is malformed ({type(e).__name__}: {e})") from None


def _tokenizer_from_hf(tokenizer_json: dict, eos_token: str | None) -> tuple[Tokenizer, list[int], int]:
    model, pre = tokenizer_json.get("model") or {}, tokenizer_json.get("pre_tokenizer") or {}
    if model.get("type") != "BPE":
        raise ScratchMLError(f"tokenizer.json has a {model.get('type')!r} model: only byte-level BPE loads here")
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    splits = [s for s in steps if s.get("type") == "Split" and "Regex" in s.get("pattern", {})]
    added = tokenizer_json.get("added_tokens", [])
    unsupported = [text for bad, text in [
        (tokenizer_json.get("normalizer") is not None, "a normalizer"),
        (any(s.get("add_prefix_space") for s in steps), "add_prefix_space"),
        (model.get("ignore_merges"), "ignore_merges"),
        (any(not t.get("special") for t in added), "added tokens that are not special"),
    ] if bad]
    if unsupported:
        raise ScratchMLError("tokenizer.json changes the text in ways our tokenizer does not: "
                             + ", ".join(unsupported))
    if any(s.get("type") == "ByteLevel" and s.get("use_regex", True) for s in steps):
        pattern = GPT2_PATTERN
    elif splits and any(s.get("type") == "ByteLevel" for s in steps):
        pattern = splits[0]["pattern"]["Regex"]
    else:
        raise ScratchMLError("tokenizer.json is not a byte-level BPE (no ByteLevel pre-tokenizer)")
    u2b = {u: b for b, u in bytes_to_unicode().items()}

    def to_bytes(token: str) -> bytes:
        if any(c not in u2b for c in token):
            raise ScratchMLError(f"tokenizer.json: the token {token!r} is outside the byte-level alphabet")
        return bytes(u2b[c] for c in token)

    special_ids = {t["id"] for t in added}
    as_bytes = {to_bytes(token): i for token, i in model["vocab"].items() if i not in special_ids}
    merges, id_of = [], {bytes([b]): b for b in range(256)}
    for rank, m in enumerate(model.get("merges", [])):
        a, b = m.split(" ") if isinstance(m, str) else m
        left, right = to_bytes(a), to_bytes(b)
        if left not in id_of or right not in id_of:
            raise ScratchMLError(f"tokenizer.json: merge {rank} ({a} {b}) uses a token no earlier merge made")
        new = id_of.setdefault(left + right, len(id_of))
        merges.append((id_of[left], id_of[right], new))
    specials = sorted(added, key=lambda t: t["id"])
    ours = Tokenizer(merges, [t["content"] for t in specials], pattern)
    missing = [ours.token_bytes(i) for i in range(ours.num_base) if ours.token_bytes(i) not in as_bytes]
    if missing:
        raise ScratchMLError(f"tokenizer.json: {len(missing)} token(s) are missing from its vocabulary, "
                             f"such as {missing[0]!r}")
    to_hf_id = [as_bytes[ours.token_bytes(i)] for i in range(ours.num_base)] + [t["id"] for t in specials]
    names = [t["content"] for t in specials]
    eot = eos_token if eos_token in names else "<|endoftext|>" if "<|endoftext|>" in names else None
    if eot is None:
        raise ScratchMLError("tokenizer.json has no end-of-text token (<|endoftext|>, or tokenizer_config's eos_token)")
    return ours, to_hf_id, ours.special_tokens[eot]


def import_hf(folder: str | os.PathLike) -> tuple[GPT, Tokenizer]:
    """A Hugging Face GPT-2 folder -> our model (eval mode) and tokenizer."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScratchMLError(f"{folder} is not a folder: pass a Hugging Face GPT-2 folder")
    if not (folder / "model.safetensors").is_file():
        extra = " (pytorch_model.bin is a pickle, not read here: convert it to safetensors)" \
            if (folder / "pytorch_model.bin").exists() else ""
        raise ScratchMLError(f"{folder} has no model.safetensors{extra}")
    config = _read_json(folder / "config.json")
    if config.get("format") == "scratchml-gpt":
        raise ScratchMLError(f"{folder} is already a scratchml GPT: pass it to --model as it is")
    tok_config = _read_json(folder / "tokenizer_config.json") if (folder / "tokenizer_config.json").exists() else {}
    eos = tok_config.get("eos_token") if isinstance(tok_config, dict) else None
    eos = eos.get("content") if isinstance(eos, dict) else eos
    tokenizer, to_hf_id, eot_id = tokenizer_from_hf(_read_json(folder / "tokenizer.json"), eos)
    try:
        cfg = config_from_hf(config, eot_id, tokenizer.vocab_size)
    except KeyError as e:
        raise ScratchMLError(f"{folder / 'config.json'} has no {e.args[0]!r}: is it a GPT-2's config?") from None
    except TypeError as e:
        raise ScratchMLError(f"{folder / 'config.json'} has a setting of the wrong type ({e})") from None
    try:
        weights = load_file(folder / "model.safetensors")
    except (SafetensorError, OSError) as e:
        raise ScratchMLError(f"{folder / 'model.safetensors'} is not a readable safetensors file: {e}") from None
    weights = {k.removeprefix("transformer."): v for k, v in weights.items()}
    model = GPT(cfg)
    expected, state = model.state_dict(), {}
    for ours, (theirs, transpose) in _hf_names(cfg.n_layers).items():
        if theirs not in weights:
            raise ScratchMLError(f"{folder / 'model.safetensors'} has no tensor {theirs}: is it a GPT-2?")
        tensor = weights[theirs].float()
        tensor = tensor.T if transpose else tensor
        if ours == "tokens.weight":
            if max(to_hf_id) >= tensor.size(0):
                raise ScratchMLError(f"the tokenizer has id {max(to_hf_id)}, but the embedding has only "
                                     f"{tensor.size(0)} rows")
            tensor = tensor[torch.tensor(to_hf_id)]  # row i: the embedding of our token i
        if tensor.shape != expected[ours].shape:
            raise ScratchMLError(f"{theirs} has shape {tuple(tensor.shape)}, but config.json makes it "
                                 f"{tuple(expected[ours].shape)}")
        state[ours] = tensor.contiguous()
    model.load_state_dict(state)
    return model.eval(), tokenizer
