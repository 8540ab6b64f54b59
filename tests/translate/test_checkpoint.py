"""Checkpoints on disk: durable before they are published, and never overwritten by a new run."""

import os
from pathlib import Path

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import write_text_atomic
from scratchml.translate.checkpoint import load_model_dir, save_model_dir
from scratchml.translate.config import TransformerConfig
from scratchml.translate.model import Transformer
from scratchml.translate.train import train
from tests.translate.conftest import toy_config


def tiny_model() -> tuple[Transformer, Tokenizer]:
    tokenizer = Tokenizer([], ["<pad>", "<bos>", "<eos>"])
    cfg = TransformerConfig(vocab_size=tokenizer.vocab_size, d_model=8, n_heads=2, n_encoder_layers=1,
                            n_decoder_layers=1, d_ff=16, max_len=8, pad_id=256, bos_id=257, eos_id=258)
    return Transformer(cfg), tokenizer


@pytest.fixture
def disk_log(monkeypatch):
    """Every fsync (by inode, which a rename keeps) and every rename, in order."""
    events, fsync, replace = [], os.fsync, os.replace

    def logged_fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        fsync(fd)

    def logged_replace(src, dst):
        events.append(("replace", Path(src).name, Path(dst).name))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", logged_fsync)
    monkeypatch.setattr(os, "replace", logged_replace)
    return events


@pytest.mark.parametrize("previous", [False, True], ids=["first-save", "replacing-a-checkpoint"])
def test_a_checkpoint_is_on_disk_before_its_rename(tmp_path, disk_log, previous):
    model, tokenizer = tiny_model()
    ckpt = tmp_path / "run" / "checkpoint"
    train_state = {"step": torch.zeros(1)}
    if previous:
        save_model_dir(ckpt, model, tokenizer, {}, train_state)
        disk_log.clear()
    save_model_dir(ckpt, model, tokenizer, {}, train_state)

    published = disk_log.index(("replace", "checkpoint.tmp", "checkpoint"))
    synced_before = {ino for event, ino, *_ in disk_log[:published] if event == "fsync"}
    synced_after = {ino for event, ino, *_ in disk_log[published:] if event == "fsync"}
    files = sorted(p.name for p in ckpt.iterdir())
    assert files == ["config.json", "model.safetensors", "tokenizer.json", "train_state.safetensors"]
    assert {(ckpt / name).stat().st_ino for name in files} <= synced_before, "every file, before the rename"
    assert ckpt.stat().st_ino in synced_before, "the folder's list of files, before the rename"
    assert ckpt.parent.stat().st_ino in synced_after, "the rename itself, in the parent folder"
    assert not (tmp_path / "run" / "checkpoint.old").exists() and not (tmp_path / "run" / "checkpoint.tmp").exists()
    load_model_dir(ckpt)


def test_write_text_atomic_syncs_and_replaces(tmp_path, disk_log):
    (tmp_path / "eval.json").write_text("old")
    write_text_atomic(tmp_path / "eval.json", '{"bleu": 1}')
    assert (tmp_path / "eval.json").read_text() == '{"bleu": 1}' and not (tmp_path / "eval.json.tmp").exists()
    file_ino, folder_ino = (tmp_path / "eval.json").stat().st_ino, tmp_path.stat().st_ino
    assert disk_log == [("fsync", file_ino), ("replace", "eval.json.tmp", "eval.json"), ("fsync", folder_ino)]


def test_a_fresh_run_never_replaces_what_a_crashed_save_left(tmp_path, toy_splits):
    """A save cut off between its two renames leaves only checkpoint.old: a new run must refuse it
    (its first save would delete it), and --resume continues from it."""
    run = tmp_path / "run"
    train(toy_config(max_steps=2), run, splits=toy_splits, progress=False)
    os.replace(run / "checkpoint", run / "checkpoint.old")
    metrics = (run / "metrics.csv").read_text()

    with pytest.raises(ScratchMLError, match=r"checkpoint\.old already holds a checkpoint: resume it"):
        train(toy_config(max_steps=4), run, splits=toy_splits, progress=False)
    assert (run / "metrics.csv").read_text() == metrics and (run / "checkpoint.old" / "config.json").exists()

    train(toy_config(max_steps=4), run, resume=True, splits=toy_splits, progress=False)
    assert (run / "checkpoint").is_dir() and not (run / "checkpoint.old").exists()
    assert len((run / "metrics.csv").read_text().splitlines()) > len(metrics.splitlines())

    with pytest.raises(ScratchMLError, match=r"checkpoint already holds a checkpoint: resume it"):
        train(toy_config(max_steps=4), run, splits=toy_splits, progress=False)


def test_a_fresh_run_refuses_an_unfinished_save(tmp_path, toy_splits):
    (tmp_path / "checkpoint.tmp").mkdir()  # a first save cut off, or another run's save in progress
    (tmp_path / "checkpoint.tmp" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ScratchMLError, match=r"checkpoint\.tmp is a checkpoint save that never finished.*delete it"):
        train(toy_config(max_steps=2), tmp_path, splits=toy_splits, progress=False)
    assert (tmp_path / "checkpoint.tmp" / "model.safetensors").exists() and not (tmp_path / "metrics.csv").exists()
