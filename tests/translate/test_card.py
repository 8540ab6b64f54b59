"""The model card carries the numbers of the run and of the evaluations it is given."""

import json

import pytest

from scratchml.errors import ScratchMLError
from scratchml.translate.card import write_card


def test_card_lists_training_facts_and_scores(tmp_path):
    meta = {"model": {"d_model": 256, "n_heads": 4, "n_encoder_layers": 4, "n_decoder_layers": 3, "d_ff": 1024},
            "train": {"minutes": 80.0, "ema_decay": 0.999},
            "progress": {"step": 3750, "epoch": 13, "elapsed": 4800.0, "tokens": 13_500_000},
            "removed_test_overlap": 8831}
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"testset": "tatoeba", "sentences": 10000, "beam": 4, "length_penalty": 2.0, "bleu": 36.12,
                              "chrf": 55.5, "sentences_per_s": 60.1}))
    write_card(tmp_path / "README.md", meta, 8_872_704, [ev])
    card = (tmp_path / "README.md").read_text()
    for fact in ("8,872,704 parameters", "3,750 optimizer steps", "80.0 minutes", "13,500,000 target tokens",
                 "2812 target tokens/s", "8,831 pairs removed", "moving average (decay 0.999)",
                 "| tatoeba | 10,000 | 4 | 2.0 | 36.12 | 55.5 | 60.1 |"):
        assert fact in card


def test_card_refuses_an_unreadable_evaluation(tmp_path):
    (tmp_path / "eval.json").write_text("{not json")
    with pytest.raises(ScratchMLError, match="eval.json"):
        write_card(tmp_path / "README.md", {}, 1, [tmp_path / "eval.json"])


def test_train_command_gives_back_the_same_settings():
    from dataclasses import asdict, fields

    from scratchml.cli.main import build_parser
    from scratchml.translate.card import train_command
    from scratchml.translate.config import TrainConfig
    assert train_command(asdict(TrainConfig())) == "scratchml nmt train"
    cfg = TrainConfig(size="tiny", minutes=240.0, max_steps=11000, cooldown_steps=3000, lr=3.14159265e-4,
                      weight_decay=0.05, bf16=False, label_smoothing=0.2)
    command = train_command(asdict(cfg), device="cpu")
    assert command.startswith("scratchml nmt train ") and "--minutes 0" in command
    args = build_parser().parse_args(command.split()[1:])
    assert args.device == "cpu"
    for f in fields(TrainConfig):
        expected = 0 if f.name == "minutes" else getattr(cfg, f.name)  # the clock is switched off
        assert getattr(args, f.name) == expected, f.name


def test_card_replays_every_stage_of_a_resumed_run():
    from dataclasses import asdict, replace

    from scratchml.cli.main import build_parser
    from scratchml.translate.card import training_commands
    from scratchml.translate.config import TrainConfig
    first = TrainConfig()                                        # the 80-minute default, stopped by the clock
    longer = replace(first, minutes=115.0)                       # resumed with more time: same recipe
    regularized = replace(first, dropout=0.3, max_steps=9189, cooldown_steps=4000, minutes=0.0)
    meta = {"stages": [{"from_step": 0, "train": asdict(first)}, {"from_step": 3703, "train": asdict(longer)},
                       {"from_step": 5189, "train": asdict(regularized)}],
            "progress": {"step": 9189}, "hardware": {"device": "cpu"}}
    commands = training_commands(meta)
    assert commands == ["scratchml nmt train --max-steps 5189 --minutes 0 --device cpu",
                        "scratchml nmt train --resume --dropout 0.3 --max-steps 9189 --cooldown-steps 4000 "
                        "--minutes 0 --device cpu"]
    args = build_parser().parse_args(commands[1].split()[1:])
    assert args.resume and (args.dropout, args.max_steps, args.cooldown_steps) == (0.3, 9189, 4000)
    # a checkpoint from before stages were recorded: its one set of settings, ended where it stopped
    assert training_commands({"train": asdict(first), "progress": {"step": 3703}}) == \
        ["scratchml nmt train --max-steps 3703 --minutes 0"]
