"""A tiny BERT with random weights, saved in the layout of a Hugging Face model folder (config.json,
model.safetensors, vocab.txt), as all-MiniLM-L6-v2 is: for tests of what uses an encoder, in
milliseconds instead of the real model's seconds. Its vectors mean nothing, but equal texts get
equal vectors, and that is enough to test the plumbing."""

import json
import string
from pathlib import Path

import torch
from safetensors.torch import save_file

from scratchml.retrieve.bert import Bert, BertConfig
from scratchml.retrieve.wordpiece import SPECIAL

# Every lower-case ASCII word can be cut into these pieces: a character, then "##" characters.
VOCAB = [*SPECIAL, *string.ascii_lowercase, *string.digits, *string.punctuation,
         *(f"##{c}" for c in string.ascii_lowercase + string.digits)]


def save_tiny_bert(folder: Path, d_model: int = 16, seed: int = 0) -> Path:
    cfg = BertConfig(vocab_size=len(VOCAB), d_model=d_model, n_layers=1, n_heads=2, d_ff=32, max_positions=256)
    torch.manual_seed(seed)
    weights = Bert(cfg).hf_state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model, "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads, "intermediate_size": cfg.d_ff,
        "max_position_embeddings": cfg.max_positions, "type_vocab_size": cfg.type_vocab_size,
        "hidden_act": "gelu", "layer_norm_eps": cfg.eps}))
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return folder
