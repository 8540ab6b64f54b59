"""Bits per byte against an independent computation: the same weights in transformers' GPT2LMHeadModel,
scored the way the transformers documentation computes the perplexity of a fixed-length model with a
sliding window ("Perplexity of fixed-length models"), one document at a time."""

import math

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm import score
from scratchml.llm.hf import export_hf
from scratchml.llm.model import GPT, GPTConfig
from scratchml.llm.score import bits_per_byte, windows

DOCS = ["A fine movie.", "Not good.\nNot bad either. " * 9, "¡Qué película! 🎬 " * 4, "x",
        "The longest one: " + "the plot thickens, the cast shines, the music soars. " * 6]


@pytest.fixture(scope="module")
def model_and_tokenizer():
    tok = Tokenizer.train(DOCS * 2, 290, ["<|endoftext|>"], progress=False)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=24, d_model=32, n_layers=2, n_heads=4,
                          eot_id=tok.special_tokens["<|endoftext|>"])).eval()
    return model, tok


def reference_nats(hf_model, ids, context, stride):
    """The sliding-window loop of the transformers docs, summing nats instead of averaging."""
    ids, nats, prev_end = torch.tensor([ids]), 0.0, 0
    for begin in range(0, ids.size(1), stride):
        end = min(begin + context, ids.size(1))
        target_len = end - prev_end
        inputs, labels = ids[:, begin:end], ids[:, begin:end].clone()
        labels[:, :-target_len] = -100
        with torch.no_grad():
            logits = hf_model(inputs).logits[:, :-1]
        nats += torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[:, 1:].flatten(),
                                                  ignore_index=-100, reduction="sum").item()
        prev_end = end
        if end == ids.size(1):
            break
    return nats


@pytest.mark.parametrize("stride", [12, 5, 23])
def test_bits_per_byte_equal_transformers_sliding_window_perplexity(tmp_path, model_and_tokenizer, stride,
                                                                    monkeypatch):
    transformers = pytest.importorskip("transformers", reason="the reference model is transformers' GPT-2")
    model, tok = model_and_tokenizer
    monkeypatch.setattr(score, "LOGITS_PER_BATCH", 3 * 24 * tok.vocab_size)  # batches of 3 windows, padded
    export_hf(model, tok, tmp_path)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    eot = model.cfg.eot_id
    nats = sum(reference_nats(hf, [eot] + tok.encode(d), 24, stride) for d in DOCS)
    n_bytes = sum(len(d.encode()) for d in DOCS)
    result = bits_per_byte(model, tok, DOCS + [""], stride=stride)  # an empty document adds nothing
    assert result["bytes"] == n_bytes and result["tokens"] == sum(len(tok.encode(d)) for d in DOCS)
    assert result["bits_per_byte"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)


def test_windows_score_every_position_once():
    for length in (1, 2, 24, 25, 100):
        for stride in (1, 7, 23):
            scored = [p for b, e, s in windows(list(range(length)), 24, stride) for p in range(s, e)]
            assert scored == list(range(1, length))


def test_bad_input(model_and_tokenizer):
    model, tok = model_and_tokenizer
    with pytest.raises(ScratchMLError, match="empty"):
        bits_per_byte(model, tok, [""])
    for stride in (24, 0):
        with pytest.raises(ScratchMLError, match="stride"):
            bits_per_byte(model, tok, DOCS, stride=stride)
