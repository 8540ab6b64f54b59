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
                 "| Tatoeba-test, all (overlaps training) | 10,000 | 4 | 2.0 | 36.12 | 55.5 | 60.1 |"):
        assert fact in card
    assert "--beam 4 --no-normalize --out" in card  # an eval.json from before normalization


def test_card_counts_epochs_from_the_last_fine_tune(tmp_path):
    # --init starts the epoch counter again on the new data: "0 full epochs" alone would mislead
    stage = {"from_step": 0, "train": {"max_steps": 100}}
    meta = {"stages": [stage, {**stage, "from_step": 100, "init": "models/en-es"}],
            "progress": {"step": 150, "epoch": 0, "elapsed": 60.0, "tokens": 1000}}
    write_card(tmp_path / "README.md", meta, 10, [])
    assert "0 full epochs since the last --init" in (tmp_path / "README.md").read_text()


def test_card_reproduces_normalized_evaluations_with_the_defaults(tmp_path):
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"testset": "tatoeba", "sentences": 10, "beam": 4, "length_penalty": 2.0,
                              "normalized": True, "bleu": 36.1, "chrf": 55.5, "sentences_per_s": 60.1}))
    write_card(tmp_path / "README.md", {"progress": {}}, 1000, [ev])
    card = (tmp_path / "README.md").read_text()
    assert "`scratchml nmt eval --testset tatoeba-unseen --beam 4 --out runs/eval-tatoeba-unseen`" in card


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
    for bf16 in (False, True):  # forced either way; None (the hardware decides) is the default
        cfg = TrainConfig(size="tiny", minutes=240.0, max_steps=11000, cooldown_steps=3000, lr=3.14159265e-4,
                          weight_decay=0.05, bf16=bf16, label_smoothing=0.2)
        command = train_command(asdict(cfg), device="cpu")
        assert command.startswith("scratchml nmt train ") and "--minutes 0" in command
        args = build_parser().parse_args(command.split()[1:])
        assert args.device == "cpu"
        for f in fields(TrainConfig):
            expected = 0 if f.name == "minutes" else getattr(cfg, f.name)  # the clock is switched off
            assert getattr(args, f.name) == expected, f.name


def _stage(step, processes=1, **settings):
    from dataclasses import asdict

    from scratchml.translate.config import TrainConfig
    return {"from_step": step, "train": asdict(TrainConfig(**settings)), "processes": processes, "device": "cpu"}


def test_card_replays_every_stage_of_a_resumed_run():
    from scratchml.cli.main import build_parser
    from scratchml.translate.card import training_commands
    meta = {"stages": [_stage(0),                                   # the 80-minute default, stopped by the clock
                       _stage(3703, minutes=115.0),                 # resumed with more time: the same recipe
                       _stage(5189, dropout=0.3, max_steps=9189, cooldown_steps=4000, minutes=0.0)],
            "progress": {"step": 9189}}
    commands, exact = training_commands(meta)
    assert exact and commands == [
        "scratchml nmt train --max-steps 5189 --minutes 0 --device cpu",
        "scratchml nmt train --resume --dropout 0.3 --max-steps 9189 --cooldown-steps 4000 --minutes 0 --device cpu"]
    args = build_parser().parse_args(commands[1].split()[1:])
    assert args.resume and (args.dropout, args.max_steps, args.cooldown_steps) == (0.3, 9189, 4000)


def test_card_commands_stop_where_each_stage_stopped():
    from scratchml.translate.card import training_commands
    # a step budget the clock cut short: the replay gets the step where the run stopped
    commands, exact = training_commands({"stages": [_stage(0, max_steps=10000)], "progress": {"step": 3703}})
    assert exact and commands == ["scratchml nmt train --max-steps 3703 --minutes 0 --device cpu"]
    # ... also when a resume with another dropout followed
    commands, _ = training_commands({"stages": [_stage(0, max_steps=10000), _stage(3703, max_steps=10000, dropout=0.2)],
                                     "progress": {"step": 10000}})
    assert commands[0] == "scratchml nmt train --max-steps 3703 --minutes 0 --device cpu"
    # a cooldown run continued with another clock is one stage; a session that took no step is dropped
    commands, exact = training_commands({"stages": [_stage(0, max_steps=900, cooldown_steps=300),
                                                    _stage(400, max_steps=900, cooldown_steps=300, minutes=0.0),
                                                    _stage(900, max_steps=900, cooldown_steps=300, minutes=5.0)],
                                         "progress": {"step": 900}})
    assert exact and commands == ["scratchml nmt train --max-steps 900 --cooldown-steps 300 --minutes 0 --device cpu"]
    # a new budget and cooldown, set before the first cooldown began: one run with the new settings
    first, second = _stage(0, max_steps=12000, cooldown_steps=3000), _stage(4726, max_steps=9500, cooldown_steps=3000)
    commands, exact = training_commands({"stages": [first, second], "progress": {"step": 9500}})
    assert exact and commands == ["scratchml nmt train --max-steps 9500 --cooldown-steps 3000 --minutes 0 --device cpu"]
    # ... and a stop one step later would have left a lowered rate in the first stage: two commands
    late = _stage(6502, max_steps=9500, cooldown_steps=3000)
    commands, exact = training_commands({"stages": [first, late], "progress": {"step": 9500}})
    assert not exact and len(commands) == 2
    # a cooldown stopped early cannot be replayed by a budget: said so
    commands, exact = training_commands({"stages": [_stage(0, max_steps=900, cooldown_steps=300)],
                                         "progress": {"step": 600}})
    assert not exact and commands[0].endswith("(stopped at step 600)")
    # data parallel stages are replayed under torchrun
    commands, _ = training_commands({"stages": [_stage(0, processes=2, max_steps=50)], "progress": {"step": 50}})
    assert commands == ["torchrun --nproc-per-node 2 -m scratchml.cli.main nmt train --max-steps 50 --minutes 0 "
                        "--device cpu"]


def test_card_of_a_checkpoint_without_stages_says_it_may_not_replay():
    from dataclasses import asdict

    from scratchml.translate.card import render_card, training_commands
    from scratchml.translate.config import TrainConfig
    meta = {"train": asdict(TrainConfig()), "progress": {"step": 3703}}
    assert training_commands(meta) == (["scratchml nmt train --max-steps 3703 --minutes 0"], False)
    assert "do not replay the run step for step" in render_card(meta, 1, [])


@pytest.mark.parametrize("stopped, merged", [(6501, True), (6502, False)])
def test_merged_stages_have_the_same_learning_rates(stopped, merged):
    """The check behind merging: every step of the first stage gets the same rate from both settings."""
    from scratchml.translate.card import training_commands
    from scratchml.translate.config import TrainConfig
    from scratchml.translate.schedule import learning_rate
    a, b = dict(max_steps=12000, cooldown_steps=3000), dict(max_steps=9500, cooldown_steps=3000)
    same = all(learning_rate(s, TrainConfig(**a)) == learning_rate(s, TrainConfig(**b)) for s in range(1, stopped + 1))
    commands, _ = training_commands({"stages": [_stage(0, **a), _stage(stopped, **b)], "progress": {"step": 9500}})
    assert same == merged and (len(commands) == 1) == merged
