"""Training: memorizing a tiny corpus, exact resume, checkpoints, and data parallelism."""

import csv
import os

import pytest
import regex
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from scratchml.errors import ScratchMLError
from scratchml.translate.checkpoint import load_model_dir, save_model_dir
from scratchml.translate.corpus import Splits
from scratchml.translate.schedule import learning_rate
from scratchml.translate.train import train
from scratchml.translate.translator import Translator
from tests.translate.conftest import toy_config


def test_tiny_model_memorizes_tiny_corpus(tmp_path, toy_splits):
    pairs = toy_splits.train[:8]
    # 100 copies per epoch: many steps between the per-epoch validation, checkpoint and plot.
    splits = type(toy_splits)(train=pairs * 100, valid=pairs, removed=0)
    train(toy_config(max_steps=300, max_tokens=400, lr=5e-3, warmup_steps=20), tmp_path, splits=splits,
          progress=False)
    translator = Translator(*load_model_dir(tmp_path / "checkpoint"))
    # normalize=False: the toy sentences have no capitals or closing marks, unlike spa.txt's
    assert translator.translate([en for en, _ in pairs], beam=1, normalize=False) == [es for _, es in pairs]


def test_resume_gives_identical_losses(tmp_path, toy_splits):
    cfg = toy_config(dropout=0.2, max_steps=12)  # dropout on: the RNG state must be restored too
    straight = train(cfg, tmp_path / "a", splits=toy_splits, progress=False)["step_losses"]
    with open(tmp_path / "a" / "metrics.csv") as f:
        epoch_end = int(list(csv.DictReader(f))[0]["step"])  # the first epoch's last step
    assert 3 < epoch_end < 12
    # cut mid-epoch, and on an epoch's last batch (the resumed session starts the next epoch)
    for cut in (3, epoch_end):
        first = train(toy_config(dropout=0.2, max_steps=cut), tmp_path / f"b{cut}", splits=toy_splits,
                      progress=False)["step_losses"]
        rest = train(cfg, tmp_path / f"b{cut}", resume=True, splits=toy_splits, progress=False)["step_losses"]
        assert first + rest == straight, cut


def test_resume_with_ema_continues_both_weights_exactly(tmp_path, toy_splits):
    cfg = toy_config(dropout=0.2, max_steps=8, ema_decay=0.9)
    train(cfg, tmp_path / "a", splits=toy_splits, progress=False)
    train(toy_config(dropout=0.2, max_steps=3, ema_decay=0.9), tmp_path / "b", splits=toy_splits, progress=False)
    train(cfg, tmp_path / "b", resume=True, splits=toy_splits, progress=False)
    for part in ("model.safetensors", "train_state.safetensors"):
        a, b = load_file(tmp_path / "a" / "checkpoint" / part), load_file(tmp_path / "b" / "checkpoint" / part)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (part, k)
    with pytest.raises(ScratchMLError, match="ema_decay"):
        train(toy_config(dropout=0.2, max_steps=9), tmp_path / "b", resume=True, splits=toy_splits, progress=False)


def test_resume_may_raise_dropout_and_records_the_stage(tmp_path, toy_splits):
    from scratchml.translate.checkpoint import read_meta
    train(toy_config(dropout=0.1, max_steps=3), tmp_path, splits=toy_splits, progress=False)
    train(toy_config(dropout=0.1, max_steps=5), tmp_path, resume=True, splits=toy_splits, progress=False)
    train(toy_config(dropout=0.3, max_steps=8), tmp_path, resume=True, splits=toy_splits, progress=False)
    meta = read_meta(tmp_path / "checkpoint")
    assert meta["model"]["dropout"] == 0.3 and meta["progress"]["step"] == 8
    assert meta["hardware"]["precision"] == "float32"  # toy_config forces bf16=False
    assert [(s["from_step"], s["train"]["dropout"], s["train"]["max_steps"]) for s in meta["stages"]] == \
        [(0, 0.1, 3), (3, 0.1, 5), (5, 0.3, 8)]


def test_the_model_cards_commands_replay_a_run_with_a_changed_dropout(tmp_path, toy_splits):
    from dataclasses import fields

    from scratchml.cli.main import build_parser
    from scratchml.translate.card import training_commands
    from scratchml.translate.checkpoint import read_meta
    from scratchml.translate.config import TrainConfig
    train(toy_config(dropout=0.1, max_steps=4), tmp_path / "b", splits=toy_splits, progress=False)
    train(toy_config(dropout=0.3, max_steps=7), tmp_path / "b", resume=True, splits=toy_splits, progress=False)
    commands, exact = training_commands(read_meta(tmp_path / "b" / "checkpoint"))
    assert exact and len(commands) == 2
    for command in commands:
        args = build_parser().parse_args(command.split()[1:])
        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        train(cfg, tmp_path / "replay", resume=args.resume, splits=toy_splits, progress=False)
    a = load_file(tmp_path / "b" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "replay" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_an_exported_model_goes_on_from_it_and_the_card_replays_it(tmp_path, toy_splits, monkeypatch):
    """--init: the exported (float16) weights, the tokenizer and the step count carry over, the
    optimizer starts afresh; the card's commands (train, export, train --init) give the same weights."""
    from dataclasses import fields

    from scratchml.cli.main import build_parser
    from scratchml.translate.card import training_commands
    from scratchml.translate.checkpoint import read_meta
    from scratchml.translate.config import TrainConfig
    monkeypatch.chdir(tmp_path)
    train(toy_config(max_steps=4), "base", splits=toy_splits, progress=False)
    base, tok, meta = load_model_dir("base/checkpoint")
    save_model_dir("exported", base, tok, {k: v for k, v in meta.items() if k != "model"}, half=True)
    exported, _, _ = load_model_dir("exported")
    with pytest.raises(ScratchMLError, match="raise it"):
        train(toy_config(max_steps=4), "tuned", splits=toy_splits, progress=False, init="exported")
    with pytest.raises(ScratchMLError, match="choose one"):
        train(toy_config(max_steps=9), "tuned", resume=True, splits=toy_splits, progress=False, init="exported")
    result = train(toy_config(max_steps=6, lr=1e-3), "tuned", splits=toy_splits, progress=False, init="exported")
    assert result["steps"] == 6 and len(result["step_losses"]) == 2
    tuned_meta = read_meta("tuned/checkpoint")
    assert [(s["from_step"], s.get("init")) for s in tuned_meta["stages"]] == [(0, None), (4, "exported")]
    assert load_model_dir("tuned/checkpoint")[1].merges == tok.merges
    tuned = load_file("tuned/checkpoint/model.safetensors")
    assert any(not torch.equal(tuned[k], exported.state_dict()[k]) for k in tuned)

    commands, exact = training_commands(tuned_meta)
    assert exact and len(commands) == 3 and commands[1] == "scratchml nmt export runs/nmt/checkpoint --out exported"
    assert commands[2].startswith("scratchml nmt train --init exported --out runs/nmt-tuned ")
    (tmp_path / "exported").rename(tmp_path / "first-export")
    for command in commands:
        args = build_parser().parse_args(command.split()[1:])
        if args.nmt_command == "export":
            model, tok, meta = load_model_dir(args.checkpoint)
            save_model_dir(args.out, model, tok, {k: v for k, v in meta.items() if k != "model"}, half=True)
            continue
        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        train(cfg, args.out, resume=args.resume, splits=toy_splits, progress=False, init=args.init)
    replayed = load_file("runs/nmt-tuned/checkpoint/model.safetensors")
    assert all(torch.equal(tuned[k], replayed[k]) for k in tuned)


def test_refuses_to_overwrite_a_checkpoint_without_resume(tmp_path, toy_splits):
    train(toy_config(max_steps=1), tmp_path, splits=toy_splits, progress=False)
    with pytest.raises(ScratchMLError, match="resume it"):
        train(toy_config(max_steps=1), tmp_path, splits=toy_splits, progress=False)


def test_checkpoint_round_trip_and_float16_export(tmp_path, toy_splits):
    train(toy_config(max_steps=2), tmp_path, splits=toy_splits, progress=False)
    model, tok, meta = load_model_dir(tmp_path / "checkpoint")
    save_model_dir(tmp_path / "again", model, tok, {"train": meta["train"]})
    save_model_dir(tmp_path / "half", model, tok, {"train": meta["train"]}, half=True)
    again, _, _ = load_model_dir(tmp_path / "again")
    half, _, _ = load_model_dir(tmp_path / "half")
    src, tgt = torch.randint(0, 297, (2, 5)), torch.randint(0, 297, (2, 4))
    assert torch.equal(model(src, tgt), again(src, tgt))
    assert torch.allclose(model(src, tgt), half(src, tgt), atol=2e-2)
    size = {name: (tmp_path / name / "model.safetensors").stat().st_size for name in ("half", "again")}
    assert size["half"] < size["again"]


def test_broken_checkpoints_give_clear_errors(tmp_path, toy_splits):
    train(toy_config(max_steps=1), tmp_path, splits=toy_splits, progress=False)
    ckpt = tmp_path / "checkpoint"
    with pytest.raises(ScratchMLError, match="another model config"):
        load_model_dir(ckpt, expect=load_model_dir(ckpt)[0].cfg.__class__(vocab_size=300))
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ScratchMLError, match="corrupt"):
        load_model_dir(ckpt)
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(ScratchMLError, match="corrupt"):
        load_model_dir(ckpt)
    with pytest.raises(ScratchMLError, match="not a model directory"):
        load_model_dir(tmp_path)


def _ddp_worker(rank, world, rendezvous, out, splits):
    import torch.distributed as dist
    # Loopback only: gloo otherwise picks the interface the hostname resolves to, which a container
    # may not route. A rendezvous file, not a port, so that no other test can take it in between.
    os.environ.update(GLOO_SOCKET_IFNAME="lo", RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        train(toy_config(max_steps=4), out, splits=splits, progress=False)
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_equals_one_process(tmp_path, toy_splits):
    train(toy_config(max_steps=4), tmp_path / "single", splits=toy_splits, progress=False)
    mp.spawn(_ddp_worker, args=(2, tmp_path / "rendezvous", tmp_path / "ddp", toy_splits), nprocs=2, join=True)
    single, _, _ = load_model_dir(tmp_path / "single" / "checkpoint")
    ddp, _, _ = load_model_dir(tmp_path / "ddp" / "checkpoint")
    for (name, a), (_, b) in zip(single.state_dict().items(), ddp.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_cooldown_ramps_the_learning_rate_to_zero_over_the_last_steps():
    cfg = toy_config(lr=1e-3, warmup_steps=10, max_steps=100, cooldown_steps=20)
    no_cooldown = toy_config(lr=1e-3, warmup_steps=10, max_steps=100)
    for step in (1, 10, 50, 80):                            # before the cooldown: untouched
        assert learning_rate(step, cfg) == learning_rate(step, no_cooldown)
    assert learning_rate(90, cfg) == pytest.approx(1e-3 * (10 / 90) ** 0.5 * 11 / 20)
    assert learning_rate(100, cfg) == pytest.approx(learning_rate(100, no_cooldown) / 20)


def test_cooldown_without_max_steps_is_refused(tmp_path, toy_splits):
    with pytest.raises(ScratchMLError, match="max_steps"):
        train(toy_config(max_steps=0, cooldown_steps=10), tmp_path, splits=toy_splits, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_choice_without_a_gpu():
    from scratchml.translate.distributed import pick_device
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(ScratchMLError, match="no CUDA GPU"):
        pick_device("cuda")


def test_cooldown_never_gives_a_negative_rate():
    cfg = toy_config(lr=1e-3, warmup_steps=10, max_steps=100, cooldown_steps=20)
    assert learning_rate(101, cfg) == 0.0 and learning_rate(150, cfg) == 0.0


def test_negative_cooldown_is_refused(tmp_path, toy_splits):
    with pytest.raises(ScratchMLError, match="0 or more"):
        train(toy_config(max_steps=10, cooldown_steps=-1), tmp_path, splits=toy_splits, progress=False)


def test_resuming_a_finished_run_is_refused(tmp_path, toy_splits):
    train(toy_config(max_steps=3), tmp_path, splits=toy_splits, progress=False)
    with pytest.raises(ScratchMLError, match="raise max_steps"):
        train(toy_config(max_steps=3), tmp_path, resume=True, splits=toy_splits, progress=False)


def test_integer_values_of_float_settings_are_accepted():
    from scratchml.translate.config import TransformerConfig, preset
    assert preset("tiny", dropout=0).dropout == 0.0
    assert TransformerConfig.from_dict({"attention_dropout": 0}).attention_dropout == 0.0


def test_name_swap_adds_renamed_copies_to_the_training_split_only():
    from scratchml.translate.dataset import prepare_data
    pairs = [("Tom sees the cat.", "Tom ve al gato."), ("The dog runs.", "El perro corre."),
             ("I saw Mary and Tom.", "Vi a Mary y a Tom.")] * 20
    splits = Splits(train=pairs, valid=pairs[:3], removed=0)
    plain = toy_config()
    tokenizer, data = prepare_data(plain, None, splits)
    _, swapped = prepare_data(toy_config(name_swap=1.0), tokenizer, splits)
    assert len(swapped.train_src) == len(data.train_src) + 40  # a copy of each pair with a name
    assert swapped.train_src[:len(data.train_src)] == data.train_src
    assert swapped.valid_src == data.valid_src
    copies = [tokenizer.decode(ids) for ids in swapped.train_src[len(data.train_src):]]
    assert not any(regex.search(r"\b(?:Tom|Mary)\b", c) for c in copies)


def test_name_swap_outside_0_to_1_is_refused(tmp_path, toy_splits):
    with pytest.raises(ScratchMLError, match="within 0..1"):
        train(toy_config(name_swap=2.0), tmp_path, splits=toy_splits, progress=False)


def test_pairs_longer_than_the_model_are_left_out_of_both_splits(toy_splits):
    from scratchml.translate.dataset import prepare_data
    long = (" ".join(["cat"] * 80), " ".join(["CAT"] * 80))
    splits = Splits(train=toy_splits.train + [long], valid=[long] + toy_splits.valid, removed=0)
    _, data = prepare_data(toy_config(), None, splits, progress=False, max_len=64)
    assert len(data.train_src) == len(toy_splits.train) and len(data.valid_src) == len(toy_splits.valid)
    assert data.valid_text == toy_splits.valid
    assert max(map(len, data.valid_src + data.valid_tgt + data.train_src + data.train_tgt)) <= 63
