"""BERT's encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers"),
assembled from the shared blocks of ``scratchml.transformer``, and loading of pretrained weights.

Each token's input is the sum of three learned embeddings: its piece, its position (0 .. 511: BERT
learns a vector per position instead of the fixed sinusoids of Vaswani et al.) and its segment
("token type": sentence A or B of a pair), normalized by a LayerNorm. N post-LN blocks follow,
with GELU and biases on Q, K and V. Every position sees every other one (no causal mask); the padding
mask hides the padding.

The weights load from a Hugging Face BERT folder (``config.json``, ``model.safetensors``), such as
all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM"; 6 layers of width 384, 22.7 M parameters).

Shapes: B batch, T tokens, C = d_model.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file

from scratchml.errors import ScratchMLError
from scratchml.transformer import PostLNBlock, padding_mask


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 12
    d_ff: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12  # LayerNorm epsilon

    @classmethod
    def from_hf(cls, config: dict) -> "BertConfig":
        """From the ``config.json`` of a Hugging Face BERT."""
        act, positions = config.get("hidden_act", "gelu"), config.get("position_embedding_type", "absolute")
        if act != "gelu" or positions != "absolute":
            raise ScratchMLError("only BERTs with GELU and absolute positions load here, not "
                                 f"hidden_act={act!r}, position_embedding_type={positions!r}")
        try:
            cfg = cls(config["vocab_size"], config["hidden_size"], config["num_hidden_layers"],
                      config["num_attention_heads"], config["intermediate_size"], config["max_position_embeddings"],
                      config["type_vocab_size"], config.get("layer_norm_eps", 1e-12))
        except KeyError as e:
            raise ScratchMLError(f"config.json has no {e.args[0]!r}: is it a BERT's config?") from None
        if cfg.d_model % cfg.n_heads:
            raise ScratchMLError(f"config.json: hidden_size={cfg.d_model} is not divisible by "
                                 f"num_attention_heads={cfg.n_heads}")
        return cfg


class Bert(nn.Module):
    """Embeddings (piece + position + segment, then LayerNorm) and N post-LN blocks."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_positions, cfg.d_model)
        self.types = nn.Embedding(cfg.type_vocab_size, cfg.d_model)
        self.ln = nn.LayerNorm(cfg.d_model, eps=cfg.eps)
        self.layers = nn.ModuleList(PostLNBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, activation="gelu",
                                                qkv_bias=True, eps=cfg.eps) for _ in range(cfg.n_layers))

    def hidden_states(self, ids, attention_mask, token_type_ids=None) -> list[torch.Tensor]:
        """ids, attention_mask (1 = token, 0 = padding), token_type_ids: (B, T) -> the embeddings
        and each layer's output, N + 1 tensors (B, T, C)."""
        T = ids.size(1)
        if T > self.cfg.max_positions:
            raise ScratchMLError(f"{T} tokens: this BERT reads at most {self.cfg.max_positions}")
        types = torch.zeros_like(ids) if token_type_ids is None else token_type_ids
        x = self.tokens(ids) + self.positions.weight[:T] + self.types(types)  # (B, T, C)
        states = [self.ln(x)]
        # (B, 1, 1, T); a batch without padding (texts of equal length) needs none
        mask = None if bool(attention_mask.all()) else padding_mask(attention_mask, 0)
        for layer in self.layers:
            states.append(layer(states[-1], mask))
        return states

    def forward(self, ids, attention_mask, token_type_ids=None) -> torch.Tensor:  # -> (B, T, C)
        return self.hidden_states(ids, attention_mask, token_type_ids)[-1]

    @classmethod
    def load(cls, folder: str | Path) -> "Bert":
        """A Hugging Face BERT folder -> the model, in eval mode."""
        folder = Path(folder)
        for name in ("config.json", "model.safetensors"):
            if not (folder / name).is_file():
                raise ScratchMLError(f"{folder} has no {name}: pass the folder of a BERT in safetensors format")
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ScratchMLError(f"{folder / 'config.json'} is not JSON: {e}") from None
        cfg = BertConfig.from_hf(config)
        try:
            weights = load_file(folder / "model.safetensors")
        except SafetensorError as e:
            raise ScratchMLError(f"{folder / 'model.safetensors'} is not a readable safetensors file: {e}") from None
        model = cls(cfg)
        model.load_state_dict(_from_hf(weights, model, folder / "model.safetensors"))
        return model.eval()

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights under Hugging Face's names (Q, K and V split again), for a ``model.safetensors``
        that ``load`` and transformers' BertModel both read."""
        state = self.state_dict()
        return {name: part.detach().cpu().contiguous()
                for ours, theirs in _hf_names(self.cfg.n_layers).items()
                for name, part in zip(theirs, state[ours].chunk(len(theirs)))}


def _hf_names(n_layers: int) -> dict[str, list[str]]:
    """Our parameter names -> the Hugging Face tensors they are made of (Q, K and V are one matrix here)."""
    names = {"tokens.weight": ["embeddings.word_embeddings.weight"],
             "positions.weight": ["embeddings.position_embeddings.weight"],
             "types.weight": ["embeddings.token_type_embeddings.weight"]}
    for p in ("weight", "bias"):
        names[f"ln.{p}"] = [f"embeddings.LayerNorm.{p}"]
        for i in range(n_layers):
            hf = f"encoder.layer.{i}."
            names[f"layers.{i}.attn.qkv.{p}"] = [f"{hf}attention.self.{m}.{p}" for m in ("query", "key", "value")]
            names[f"layers.{i}.attn.proj.{p}"] = [f"{hf}attention.output.dense.{p}"]
            names[f"layers.{i}.ln1.{p}"] = [f"{hf}attention.output.LayerNorm.{p}"]
            names[f"layers.{i}.ffn.up.{p}"] = [f"{hf}intermediate.dense.{p}"]
            names[f"layers.{i}.ffn.down.{p}"] = [f"{hf}output.dense.{p}"]
            names[f"layers.{i}.ln2.{p}"] = [f"{hf}output.LayerNorm.{p}"]
    return names


def _from_hf(weights: dict, model: Bert, path: Path) -> dict:
    """Rename and check the tensors of a Hugging Face BERT (others, such as its pooler, are left out)."""
    state, expected = {}, model.state_dict()
    for ours, theirs in _hf_names(model.cfg.n_layers).items():
        want = (expected[ours].size(0) // len(theirs), *expected[ours].shape[1:])  # Q, K, V: a third each
        for name in theirs:
            if name not in weights:
                raise ScratchMLError(f"{path} has no tensor {name}: is it a BERT?")
            if tuple(weights[name].shape) != want:
                raise ScratchMLError(f"{path}: {name} has shape {tuple(weights[name].shape)}, "
                                     f"but config.json makes it {want}")
        state[ours] = torch.cat([weights[name].float() for name in theirs])
    return state
