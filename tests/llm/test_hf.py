"""Our GPT against Hugging Face's GPT2LMHeadModel on small random configs, both directions: a model we
export loads in ``transformers`` with the same tokens and logits, and a GPT-2 folder made by
``transformers`` and ``tokenizers`` loads into ours with the same tokens and logits."""

import json

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.bpe.export import bytes_to_unicode
from scratchml.errors import ScratchMLError
from scratchml.llm.hf import export_hf, import_hf
from scratchml.llm.model import GPT, GPTConfig

transformers = pytest.importorskip("transformers", reason="the reference GPT-2 is transformers'")
TEXTS = ["The movie was great, and the acting was even better!", "I didn't like it. 10/10 would not watch again.",
         "Ein Film über Café-Besitzer 🎬 in 1999:\n\nnot bad at all.", "It's   spaced\tout  ", "<br /><br />The end."]
EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train(TEXTS * 3, 300, special_tokens=[EOT], progress=False)


def random_gpt(tokenizer, activation="gelu_tanh", seed=0):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, context=64, d_model=32, n_layers=2, n_heads=4,
                    activation=activation, eot_id=tokenizer.special_tokens[EOT])
    model = GPT(cfg).eval()
    with torch.no_grad():  # LayerNorms and biases away from their 1s and 0s, so that a mix-up shows
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("activation", ["gelu_tanh", "gelu"])
def test_an_exported_model_loads_in_transformers_with_the_same_tokens_and_logits(tmp_path, tokenizer, activation):
    model = random_gpt(tokenizer, activation)
    export_hf(model, tokenizer, tmp_path / "hf")
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    their_tok = transformers.PreTrainedTokenizerFast.from_pretrained(tmp_path / "hf")
    assert their_tok.eos_token == EOT and their_tok.eos_token_id == model.cfg.eot_id
    for text in TEXTS:
        ids = [model.cfg.eot_id] + tokenizer.encode(text)
        assert their_tok(EOT + text)["input_ids"] == ids
        with torch.no_grad():
            ours = model(torch.tensor([ids]))
            ref = theirs(torch.tensor([ids])).logits
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


def hf_gpt2_folder(folder, activation="gelu_new", **config):
    """A GPT-2 folder as transformers and tokenizers write it: GPT-2's own kind of tokenizer (ByteLevel
    pre-tokenizer with its regex, special tokens first in the vocabulary) and random weights."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS * 3, vocab_size=320, special_tokens=[EOT], show_progress=False)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOT, bos_token=EOT)
    tok.save_pretrained(folder)
    torch.manual_seed(1)
    cfg = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                  activation_function=activation, eos_token_id=tok.eos_token_id, **config)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(folder, safe_serialization=True)
    return model, tok


@pytest.mark.parametrize("activation", ["gelu_new", "gelu"])
def test_a_transformers_gpt2_folder_loads_into_ours_with_the_same_tokens_and_logits(tmp_path, activation):
    theirs, their_tok = hf_gpt2_folder(tmp_path, activation)
    model, tokenizer = import_hf(tmp_path)
    b2u = bytes_to_unicode()
    # our id -> theirs, looked up in their vocabulary by the token's bytes
    to_theirs = [their_tok.convert_tokens_to_ids("".join(b2u[b] for b in tokenizer.token_bytes(i)))
                 for i in range(tokenizer.num_base)] + [their_tok.convert_tokens_to_ids(EOT)]
    assert model.cfg.eot_id == tokenizer.special_tokens[EOT] and to_theirs[model.cfg.eot_id] == their_tok.eos_token_id
    for text in TEXTS:
        ids = [model.cfg.eot_id] + tokenizer.encode(text)
        their_ids = their_tok(EOT + text)["input_ids"]
        assert [to_theirs[i] for i in ids] == their_ids
        with torch.no_grad():
            ours = model(torch.tensor([ids]))
            ref = theirs(torch.tensor([their_ids])).logits[..., to_theirs]
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


def test_our_export_imports_back_unchanged(tmp_path, tokenizer):
    model = random_gpt(tokenizer)
    export_hf(model, tokenizer, tmp_path / "hf")
    back, tok = import_hf(tmp_path / "hf")
    assert back.cfg == model.cfg and tok.merges == tokenizer.merges and tok.pattern == tokenizer.pattern
    for name, p in model.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name


def test_folders_that_are_not_our_gpt2_are_one_line_errors(tmp_path, tokenizer):
    with pytest.raises(ScratchMLError, match="not a folder"):
        import_hf(tmp_path / "missing")
    hf_gpt2_folder(tmp_path / "untied", tie_word_embeddings=False)
    with pytest.raises(ScratchMLError, match="untied"):
        import_hf(tmp_path / "untied")
    export_hf(random_gpt(tokenizer), tokenizer, tmp_path / "ok")
    (tmp_path / "ok" / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ScratchMLError, match="not a readable safetensors"):
        import_hf(tmp_path / "ok")
    export_hf(random_gpt(tokenizer), tokenizer, tmp_path / "bert")
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    (tmp_path / "bert" / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(ScratchMLError, match="only GPT-2"):
        import_hf(tmp_path / "bert")
    ours = tmp_path / "ours"  # a scratchml model folder: its config.json names our format
    ours.mkdir()
    (ours / "config.json").write_text(json.dumps({"format": "scratchml-gpt", "model": {}}))
    (ours / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ScratchMLError, match="already a scratchml GPT"):
        import_hf(ours)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ScratchMLError, match="pickle"):
        import_hf(tmp_path / "bin")
