"""kNN-LM on a tiny random GPT: the datastore holds every next token of the stream with the state
that predicted it, λ = 0 scores exactly as the model alone, and a datastore of the scored text itself
lowers its bits per byte (the model "remembers" through retrieval what its weights never learned)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchml.llm.data import token_stream
from scratchml.llm.knn import KNNLM, build_training_datastore, stream_entries
from scratchml.llm.score import bits_per_byte
from scratchml.retrieve.knn import KNNSettings, capture_input
from tests.llm.test_score import DOCS, model_and_tokenizer  # noqa: F401 (a fixture)


def test_entries_are_the_states_before_each_next_token(model_and_tokenizer):  # noqa: F811
    model, tok = model_and_tokenizer
    stream = token_stream(tok, DOCS, model.cfg.eot_id)
    keys, values, origins = stream_entries(model, stream, batch_size=3, progress=False)
    C = model.cfg.context
    windows = [stream[s:s + C + 1] for s in range(0, len(stream) - 1, C)]
    assert len(values) == sum(len(w) - 1 for w in windows) == len(stream) - 1  # windows share one token
    np.testing.assert_array_equal(values, np.concatenate([w[1:] for w in windows]))
    # the second window's states, computed alone: the last block's feed-forward input, after its LayerNorm
    with torch.no_grad(), capture_input(model.layers[-1].ffn) as box:
        model(torch.from_numpy(windows[1][:-1].astype(np.int64))[None])
        x = box[0][0]
    np.testing.assert_allclose(keys[origins == 1].astype(np.float32), x.numpy(), atol=2e-3)


def test_lambda_zero_scores_as_the_model_alone(model_and_tokenizer, tmp_path):  # noqa: F811
    model, tok = model_and_tokenizer
    ds = build_training_datastore(model, tok, DOCS[:3], tmp_path / "ds", progress=False)
    plain = bits_per_byte(model, tok, DOCS, stride=12)
    mixed = bits_per_byte(model, tok, DOCS, stride=12, knn=KNNLM(ds, KNNSettings(lambda_max=0.0)))
    assert mixed["bits_per_byte"] == pytest.approx(plain["bits_per_byte"], rel=1e-6)


def test_a_datastore_of_the_text_itself_lowers_its_bits_per_byte(model_and_tokenizer, tmp_path):  # noqa: F811
    model, tok = model_and_tokenizer
    ds = build_training_datastore(model, tok, DOCS, tmp_path / "ds", progress=False)
    plain = bits_per_byte(model, tok, DOCS)["bits_per_byte"]
    knn = KNNLM(ds, KNNSettings(k=4, temperature=1.0, lambda_max=0.9, sigma=1e9, nprobe=64))
    assert bits_per_byte(model, tok, DOCS, knn=knn)["bits_per_byte"] < 0.7 * plain


def test_mixing_at_one_position_by_hand(model_and_tokenizer, tmp_path):  # noqa: F811
    model, tok = model_and_tokenizer
    ds = build_training_datastore(model, tok, DOCS[:2], tmp_path / "ds", progress=False)
    s = KNNSettings(k=3, temperature=5.0, lambda_max=0.5, sigma=1e9, nprobe=64)
    knn = KNNLM(ds, s)
    ids = torch.tensor([[model.cfg.eot_id] + tok.encode("A fine")])
    with torch.no_grad(), knn.attached(model):
        logits = model(ids)[0, -1:]
        got = knn.logprobs(logits, torch.tensor([0]), torch.tensor([ids.size(1) - 1]))
        query = knn.box[0][0, -1].float().numpy()
    d = ((ds.keys.astype(np.float32) - query) ** 2).sum(1)  # exact search by hand
    near = np.argsort(d)[:3]
    w = np.exp(-d[near] / 5.0) / np.exp(-d[near] / 5.0).sum()
    p = 0.5 * F.softmax(logits.float(), -1)[0].numpy()
    for j, v in zip(near, ds.values[near]):
        p[v] += 0.5 * w[list(near).index(j)]
    np.testing.assert_allclose(got[0].exp().numpy(), p, atol=1e-4)


def test_score_knn_from_the_command_line(model_and_tokenizer, tmp_path, capsys):  # noqa: F811
    import json

    from scratchml.cli.main import main
    from scratchml.llm import checkpoint

    model, tok = model_and_tokenizer
    checkpoint.save(tmp_path / "gpt", model, tok, {})
    build_training_datastore(model, tok, DOCS, tmp_path / "ds", progress=False)
    (tmp_path / "t.txt").write_text(DOCS[1], encoding="utf-8")
    args = ["llm", "score", str(tmp_path / "t.txt"), "--model", str(tmp_path / "gpt")]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*args, "--knn", "--datastore", str(tmp_path / "ds")]) == 0
    mixed = json.loads(capsys.readouterr().out)
    assert mixed["knn"]["entries"] > 0 and mixed["bits_per_byte"] != plain["bits_per_byte"]
    assert main([*args, "--knn", "--knn-tokens", "3"]) == 1 and "--knn-tokens" in capsys.readouterr().err
