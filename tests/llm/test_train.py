"""Training the GPT on a tiny made-up corpus: the loss falls, a run cut in two and resumed ends with the
weights of the uninterrupted run, files are written atomically, and bad settings are one-line errors."""

import csv
import shutil

import numpy as np
import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.llm import checkpoint, imdb
from scratchml.llm.data import epoch_windows
from scratchml.llm.train import TrainConfig, learning_rate, train

REVIEWS = ["This movie was great. The acting was great too.", "A terrible film.\nI walked out after an hour.",
           "Great cast, great story, great fun!", "Boring. The plot made no sense and the ending was worse."] * 30
TINY = TrainConfig(vocab_size=300, context=16, d_model=32, n_layers=2, n_heads=4, batch_size=4, max_steps=24,
                   lr=1e-2, warmup_steps=3, eval_every=8, valid_fraction=0.1, bf16=False)


@pytest.fixture(autouse=True)
def tiny_corpus(monkeypatch):
    monkeypatch.setattr(imdb, "training_texts", lambda fraction, limit=0: (REVIEWS[:-8], REVIEWS[-8:]))


def test_training_lowers_the_loss_and_writes_a_model(tmp_path):
    summary = train(TINY, tmp_path, progress=False, command="scratchml llm train ...")
    assert summary["finished"] and summary["steps"] == 24
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 8, 16, 24]
    assert float(rows[-1]["valid_loss"]) < float(rows[0]["valid_loss"]) - 1.0
    model, tokenizer, meta = checkpoint.load(tmp_path / "model")
    assert tokenizer.vocab_size == 300 and model.cfg.eot_id == tokenizer.special_tokens["<|endoftext|>"]
    assert "scratchml llm train ..." in (tmp_path / "model" / "README.md").read_text()
    assert (tmp_path / "training.png").stat().st_size > 1000


def test_a_resumed_run_ends_exactly_where_the_uninterrupted_one_does(tmp_path):
    cfg = TrainConfig(**{**TINY.__dict__, "dropout": 0.1})  # dropout draws random numbers: their state resumes too
    train(cfg, tmp_path / "whole", progress=False)
    first = train(cfg, tmp_path / "cut", progress=False, stop_after=5)
    assert not first["finished"] and first["steps"] == 5 and not (tmp_path / "cut" / "model").exists()
    assert train(cfg, tmp_path / "cut", resume=True, progress=False)["finished"]
    whole, _, _ = checkpoint.load(tmp_path / "whole" / "checkpoint")
    cut, _, meta = checkpoint.load(tmp_path / "cut" / "checkpoint")
    assert meta["progress"]["step"] == 24 and len(meta["commands"]) == 2
    for name, p in whole.state_dict().items():
        assert torch.equal(p, cut.state_dict()[name]), name
    rows = [(tmp_path / run / "metrics.csv").read_text().splitlines() for run in ("whole", "cut")]
    def without_clock(row):  # minutes and tokens/s differ from run to run
        cells = row.split(",")
        return cells[:2] + cells[3:6] + cells[7:]
    assert list(map(without_clock, rows[0])) == list(map(without_clock, rows[1]))


def test_the_schedule_warms_up_then_decays_by_cosine_to_its_floor():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, max_steps=110)
    assert learning_rate(5, cfg) == pytest.approx(5e-4) and learning_rate(10, cfg) == pytest.approx(1e-3)
    assert learning_rate(60, cfg) == pytest.approx(0.55e-3) and learning_rate(110, cfg) == pytest.approx(1e-4)
    to_zero = TrainConfig(lr=1e-3, warmup_steps=10, max_steps=110, min_lr_ratio=0.0)
    assert learning_rate(60, to_zero) == pytest.approx(0.5e-3) and learning_rate(110, to_zero) == pytest.approx(0.0)


def test_the_optimizer_settings_take_effect_and_a_resume_that_changes_them_says_so(tmp_path, caplog):
    import logging
    cfg = TrainConfig(**{**TINY.__dict__, "beta2": 0.99})
    for run, c in (("a", TINY), ("b", cfg)):
        train(c, tmp_path / run, progress=False, stop_after=3)
    a, _, _ = checkpoint.load(tmp_path / "a" / "checkpoint")
    b, _, _ = checkpoint.load(tmp_path / "b" / "checkpoint")
    assert not torch.equal(a.ln.weight, b.ln.weight)  # AdamW's first step ignores beta2; the next ones do not
    logging.getLogger("scratchml").addHandler(caplog.handler)
    try:
        train(TrainConfig(**{**cfg.__dict__, "min_lr_ratio": 0.0}), tmp_path / "b", resume=True, progress=False,
              stop_after=4)
    finally:
        logging.getLogger("scratchml").removeHandler(caplog.handler)
    assert "min_lr_ratio 0.1 -> 0.0" in caplog.text
    for bad in ({"beta2": 1.0}, {"min_lr_ratio": -0.1}):
        with pytest.raises(ScratchMLError, match=next(iter(bad))):
            train(TrainConfig(**{**TINY.__dict__, **bad}), tmp_path / "bad", progress=False)


def test_every_epoch_visits_each_window_once_in_its_own_order():
    a, b = epoch_windows(1000, 16, 0, 0), epoch_windows(1000, 16, 0, 1)
    assert len(set(a)) == len(a) and not np.array_equal(a, b) and np.array_equal(a, epoch_windows(1000, 16, 0, 0))
    assert a.max() + 17 <= 1000 and np.all(np.diff(np.sort(a)) == 16)


def test_bad_settings_and_fresh_starts_over_a_checkpoint_are_refused(tmp_path):
    with pytest.raises(ScratchMLError, match="not divisible"):
        train(TrainConfig(**{**TINY.__dict__, "n_heads": 5}), tmp_path, progress=False)
    train(TINY, tmp_path, progress=False, stop_after=2)
    with pytest.raises(ScratchMLError, match="already holds a checkpoint"):
        train(TINY, tmp_path, progress=False)
    with pytest.raises(ScratchMLError, match="was trained with d_model=32"):
        train(TrainConfig(**{**TINY.__dict__, "d_model": 64}), tmp_path, resume=True, progress=False)


def test_too_little_validation_text_and_zero_heads_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(imdb, "training_texts", lambda fraction, limit=0: (REVIEWS, ["Short."]))
    with pytest.raises(ScratchMLError, match="fewer than one window"):
        train(TINY, tmp_path / "a", progress=False)
    with pytest.raises(ScratchMLError, match="n_heads must be positive"):
        train(TrainConfig(**{**TINY.__dict__, "n_heads": 0}), tmp_path / "b", progress=False)


def test_single_window_batches_run_over_many_epochs_and_a_lost_final_model_is_rewritten(tmp_path):
    cfg = TrainConfig(**{**TINY.__dict__, "batch_size": 1, "max_steps": 400, "eval_every": 400, "lr": 1e-3})
    assert train(cfg, tmp_path, progress=False)["finished"]  # ~160 windows per epoch: the offsets vary
    _, _, meta = checkpoint.load(tmp_path / "checkpoint")
    assert meta["progress"]["epoch"] >= 2
    shutil.rmtree(tmp_path / "model")  # as if the session ended between the last checkpoint and the model
    assert train(cfg, tmp_path, resume=True, progress=False)["finished"] and (tmp_path / "model").is_dir()
    with pytest.raises(ScratchMLError, match="raise max_steps"):
        train(cfg, tmp_path, resume=True, progress=False)
