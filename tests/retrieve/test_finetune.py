"""Contrastive fine-tuning of the encoder, on a tiny random BERT and a tiny made-up collection: the loss
against independent computations (cross-entropy over a similarity matrix built here, and
sentence-transformers' MultipleNegativesRankingLoss), the batches, training, exact resume, atomic
saves, the saved folder, and the errors of bad settings; then the SciFact training pairs."""

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from scratchml.errors import ScratchMLError
from scratchml.retrieve import finetune_io
from scratchml.retrieve.bert import Bert, BertConfig
from scratchml.retrieve.contrastive import in_batch_loss
from scratchml.retrieve.encoder import Encoder
from scratchml.retrieve.finetune import finetune, learning_rate
from scratchml.retrieve.pairs import Pair, RetrievalData, batches, ignore_mask, in_validation, split_qrels
from scratchml.retrieve.wordpiece import SPECIAL, WordPiece

WORDS = ("cell protein gene virus tumor brain heart lung blood drug dose trial mouse human risk cancer "
         "insulin liver kidney bone immune vaccine neuron muscle").split()
SMALL = dict(batch_size=4, query_length=12, passage_length=24, progress=False, checkpoint_minutes=60)


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random 2-layer BERT of width 32 in a Hugging Face folder, with a vocabulary of WORDS."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = [*SPECIAL, *WORDS, *"abcdefghijklmnopqrstuvwxyz", *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(dict(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32, type_vocab_size=2)))
    torch.manual_seed(0)
    model = Bert(BertConfig(len(vocab), 32, 2, 2, 64, 32))
    from safetensors.torch import save_file
    save_file(model.hf_state_dict(), folder / "model.safetensors")
    return folder


@pytest.fixture(scope="module")
def tiny_data():
    """24 documents of 6 words; each query is 3 of its document's words, and query 0 has two documents."""
    rng = np.random.default_rng(0)
    corpus = {f"d{i}": " ".join(rng.choice(WORDS, 6, replace=False)) for i in range(24)}
    queries = {f"q{i}": " ".join(corpus[f"d{i}"].split()[:3]) for i in range(24)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(24)}
    qrels["q0"]["d1"] = 1
    return RetrievalData(corpus, queries, qrels)


def test_the_loss_is_cross_entropy_over_scaled_cosines():
    q, p = _unit(4, 8, seed=1) * 3, _unit(8, 8, seed=2) * 0.5  # the reference needs no unit vectors
    sim = torch.stack([torch.stack([F.cosine_similarity(qi, pj, dim=0) for pj in p]) for qi in q])  # (4, 8)
    want = F.cross_entropy(20 * sim, torch.arange(4))
    assert torch.allclose(in_batch_loss(F.normalize(q, dim=-1), F.normalize(p, dim=-1)), want, atol=1e-12)
    ignore = torch.zeros(4, 8, dtype=torch.bool)
    ignore[0, 2] = ignore[3, 5] = True
    keep = [[j for j in range(8) if not ignore[i, j]] for i in range(4)]
    want = sum(torch.logsumexp(20 * sim[i, keep[i]], 0) - 20 * sim[i, i] for i in range(4)) / 4
    assert torch.allclose(in_batch_loss(F.normalize(q, dim=-1), F.normalize(p, dim=-1), ignore=ignore), want)


def test_the_loss_matches_sentence_transformers_multiple_negatives_ranking_loss():
    losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses",
                                 reason="sentence-transformers' MultipleNegativesRankingLoss is the reference")
    q, pos, neg = _unit(5, 16, seed=3), _unit(5, 16, seed=4), _unit(5, 16, seed=5)
    reference = losses.MultipleNegativesRankingLoss(None, scale=20.0)
    assert torch.allclose(in_batch_loss(q, pos), reference.compute_loss_from_embeddings([q, pos], None))
    assert torch.allclose(in_batch_loss(q, torch.cat([pos, neg]), scale=20.0),
                          reference.compute_loss_from_embeddings([q, pos, neg], None))


def test_batches_hold_no_query_or_passage_twice_and_mask_the_false_negatives():
    pairs = [Pair("q0", "d0", "d5"), Pair("q0", "d1", "d5"), Pair("q1", "d1", "d2"), Pair("q2", "d2", "d7"),
             Pair("q3", "d3", "d0"), Pair("q4", "d4", "d6"), Pair("q5", "d8", "d9")]
    epoch0 = batches(pairs, 3, seed=0, epoch=0)
    assert epoch0 == batches(pairs, 3, seed=0, epoch=0) != batches(pairs, 3, seed=0, epoch=1)
    for batch in epoch0:
        keys = [k for i in batch for k in pairs[i].keys()]
        assert len(keys) == len(set(keys)) and 2 <= len(batch) <= 3
    qrels = {"q0": {"d0": 1, "d1": 1}, "q1": {"d1": 1}, "q3": {"d3": 1, "d2": 1}}
    mask = ignore_mask([pairs[0], pairs[2], pairs[4]], qrels)  # columns d0 d1 d3, then d5 d2 d0
    assert mask.tolist() == [[False, True, False, False, False, True],    # d1 answers q0 too, and so does d0,
                             [False, False, False, False, False, False],  # q3's hard negative
                             [False, False, False, False, True, False]]   # q1's hard negative d2 answers q3


def test_the_validation_split_is_stable_and_about_the_fraction():
    ids = [str(i) for i in range(2000)]
    held = [q for q in ids if in_validation(q, 0.1)]
    assert 150 < len(held) < 250 and held == [q for q in ids if in_validation(q, 0.1)]
    train, valid = split_qrels({q: {"d": 1} for q in ids}, 0.1)
    assert sorted(valid) == sorted(held) and not set(train) & set(valid) and len(train) + len(valid) == 2000


def test_the_learning_rate_warms_up_then_decays_linearly():
    rates = [learning_rate(s, 20, 1.0, 0.1) for s in range(1, 21)]
    assert rates[:3] == [0.5, 1.0, 18 / 19] and rates[-1] == 1 / 19
    assert all(a > b for a, b in zip(rates[1:], rates[2:]))


def test_training_lowers_the_loss_and_writes_a_folder_the_encoder_loads(tiny_model, tiny_data, tmp_path):
    summary = finetune(tmp_path, model_dir=tiny_model, data=tiny_data, epochs=8, lr=3e-3, valid_fraction=0.2,
                       **SMALL)
    losses = summary["step_losses"]
    assert summary["finished"] and summary["steps"] == len(losses) > 20
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(9)) and rows[0]["train_loss"] == ""
    scores = [float(r["valid_ndcg@10"]) for r in rows]
    assert summary["valid_ndcg@10"] == max(scores) and summary["baseline_ndcg@10"] == scores[0]
    card = json.loads((tmp_path / "model" / "finetune.json").read_text())
    assert card["best_step"] == summary["best_step"] and (tmp_path / "training.png").stat().st_size > 0
    assert "nDCG@10" in (tmp_path / "model" / "README.md").read_text()
    Encoder.load(tmp_path / "model").encode(["cell protein"])


def test_the_saved_folder_gives_the_embeddings_of_the_model_in_memory(tiny_model, tmp_path):
    model, tokenizer = Bert.load(tiny_model), WordPiece.load(tiny_model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    finetune_io.write_folder(tmp_path / "m", model, finetune_io.read_kept_files(tiny_model), {})
    texts = ["cell protein gene", "virus", "a tumor in the brain of a mouse"]
    loaded = Encoder.load(tmp_path / "m").encode(texts)
    assert np.array_equal(loaded, Encoder(tokenizer, model).encode(texts))


@pytest.mark.parametrize("hard_negatives", [False, True])
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_model, tiny_data, tmp_path,
                                                                     hard_negatives):
    settings = dict(model_dir=tiny_model, data=tiny_data, epochs=2, lr=1e-3, hard_negatives=hard_negatives,
                    eval_every=4, **SMALL)
    whole = finetune(tmp_path / "whole", **settings)
    first = finetune(tmp_path / "parts", max_steps=7, **settings)
    assert not first["finished"] and first["steps"] == 7
    rest = finetune(tmp_path / "parts", resume=True, **settings)
    assert rest["finished"] and first["step_losses"] + rest["step_losses"] == whole["step_losses"]
    for folder in ("checkpoint", "model"):
        a, b = (load_file(tmp_path / run / folder / "model.safetensors") for run in ("whole", "parts"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def metrics(run):
        with open(tmp_path / run / "metrics.csv", newline="") as f:
            return [{k: v for k, v in row.items() if k != "minutes"} for row in csv.DictReader(f)]
    assert metrics("whole") == metrics("parts")


def test_an_interrupted_save_leaves_the_previous_checkpoint(tiny_model, tiny_data, tmp_path, monkeypatch):
    settings = dict(model_dir=tiny_model, data=tiny_data, epochs=1, valid_fraction=0, **SMALL)
    finetune(tmp_path, max_steps=2, **settings)
    real_save = finetune_io.save_file

    def save_then_fail(tensors, path, **kwargs):
        real_save(tensors, path, **kwargs)
        if path.name == "optimizer.safetensors":
            raise OSError("disk full")
    monkeypatch.setattr(finetune_io, "save_file", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        finetune(tmp_path, resume=True, max_steps=3, **settings)
    monkeypatch.undo()
    folder, progress, _ = finetune_io.read_checkpoint(tmp_path / "checkpoint")
    assert progress["progress"]["step"] == 2 and (tmp_path / "checkpoint.tmp").exists()
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")  # a save cut off between its two renames
    assert finetune(tmp_path, resume=True, max_steps=3, **settings)["steps"] == 3
    assert not (tmp_path / "checkpoint.tmp").exists() and not (tmp_path / "checkpoint.old").exists()


def test_bad_settings_are_one_line_errors(tiny_model, tiny_data, tmp_path):
    settings = dict(model_dir=tiny_model, data=tiny_data, **SMALL)
    with pytest.raises(ScratchMLError, match="batch_size must be at least 2"):
        finetune(tmp_path, **{**settings, "batch_size": 1})
    no_pairs = RetrievalData(tiny_data.corpus, tiny_data.queries, {})
    with pytest.raises(ScratchMLError, match="0 training pair"):
        finetune(tmp_path, **{**settings, "data": no_pairs})
    with pytest.raises(ScratchMLError, match="no checkpoint to resume"):
        finetune(tmp_path / "new", resume=True, **settings)
    finetune(tmp_path / "run", max_steps=1, valid_fraction=0, **settings)
    with pytest.raises(ScratchMLError, match="already holds a checkpoint: resume it"):
        finetune(tmp_path / "run", valid_fraction=0, **settings)
    with pytest.raises(ScratchMLError, match="was trained with lr=2e-05"):
        finetune(tmp_path / "run", resume=True, valid_fraction=0, **{**settings, "lr": 1e-3})


@pytest.mark.dataset("scifact")
def test_the_scifact_pairs_come_from_the_training_claims_only():
    from scratchml.retrieve.pairs import scifact_train, training_pairs
    from scratchml.retrieve.scifact import load_qrels
    data = scifact_train()
    train, valid = split_qrels(data.qrels, 0.1)
    pairs = training_pairs(data, train) + training_pairs(data, valid)
    assert len(data.queries) == len(data.qrels) == 809 and len(pairs) == 919
    assert 50 < len(valid) < 110 and not set(data.queries) & set(load_qrels("test"))
    assert all(p.doc_id in data.corpus for p in pairs) and len(data.corpus) == 5183
