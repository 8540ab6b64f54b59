"""A tiny random GPT (saved as a model folder) and preference pairs over it, for the RLHF tests."""

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.llm import checkpoint
from scratchml.llm.model import GPT, GPTConfig

TEXTS = ["This movie was great. The acting was great too.", "A terrible film.\nI walked out after an hour.",
         "Good fun, good cast.", "Bad plot, bad acting, boring."] * 10


@pytest.fixture(scope="session")
def tiny_gpt_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rlhf") / "gpt"
    tok = Tokenizer.train(TEXTS, 300, ["<|endoftext|>"], progress=False)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=64, d_model=32, n_layers=2, n_heads=4,
                          eot_id=tok.special_tokens["<|endoftext|>"]))
    checkpoint.save(folder, model, tok, {})
    return folder


@pytest.fixture
def tiny(tiny_gpt_dir):
    """(model, tokenizer) fresh from the folder: tests may train it."""
    model, tok, _ = checkpoint.load(tiny_gpt_dir)
    return model, tok
