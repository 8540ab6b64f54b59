"""``scratchml rlhf`` end to end on tiny models and a handful of fake reviews: annotator, pairs, reward
model, DPO, PPO, evaluation and generation, each bad setting ending in one stderr line and exit 1."""

import io
import json

import pytest

from scratchml.cli.main import main
from scratchml.llm.imdb import Review
from tests.cli.cli_run import assert_one_line_error, run
from tests.rlhf import conftest as rlhf_fixtures

TEXTS = rlhf_fixtures.TEXTS
tiny_gpt_dir = rlhf_fixtures.tiny_gpt_dir  # the tiny GPT of the RLHF tests is π_ref here too

POSITIVE = ["A wonderful film, great acting and a moving story.", "Loved it: brilliant, funny, great cast.",
            "Great movie. I would watch it again.", "Excellent and beautiful, a great film."]
NEGATIVE = ["A terrible film, bad acting and a boring plot.", "Awful: dull, stupid, bad cast.",
            "Bad movie. I walked out after an hour.", "Boring and ugly, the worst film."]


def fake_reviews(split):
    rows = [(t, 1) for t in POSITIVE + TEXTS[::4]] + [(t, 0) for t in NEGATIVE + TEXTS[1::4]]
    return [Review(split, i, label, text) for i, (text, label) in enumerate(rows * 3)]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_gpt_dir):
    """The whole pipeline run once, through the command line, into a folder of shipped-looking models."""
    patch = pytest.MonkeyPatch()
    patch.setattr("scratchml.llm.imdb.reviews", fake_reviews)
    patch.setattr("scratchml.rlhf.prompts.reviews", fake_reviews)
    patch.setattr("scratchml.rlhf.reward_pretraining.reviews", fake_reviews)
    root = tmp_path_factory.mktemp("rlhf-cli")
    models = root / "models"
    results = {}
    results["annotator"] = cli("rlhf", "annotator", "--out", models / "imdb-sentiment", "--min-df", 1,
                               "--steps", 100)
    common = ["--reference", tiny_gpt_dir]
    results["pairs"] = cli("rlhf", "pairs", "--out", root / "pairs", "--prompts", 24, "--valid-prompts", 8,
                           "--max-new-tokens", 6, "--classifier", models / "imdb-sentiment", *common)
    results["pairs-unsup"] = cli("rlhf", "pairs", "--out", root / "pairs-unsup", "--split", "unsup", "--prompts", 16,
                                 "--valid-prompts", 0, "--max-new-tokens", 6, "--classifier",
                                 models / "imdb-sentiment", *common)
    small = ["--pairs", root / "pairs", "--epochs", 1, "--batch-size", 8, "--lr", 1e-3, "--warmup-steps", 1, *common]
    results["reward"] = cli("rlhf", "reward", "--out", root / "reward", *small)
    results["reward-pretrain"] = cli("rlhf", "reward-pretrain", "--out", root / "reward-pretrain", "--valid-reviews",
                                     4, *small)
    results["reward-init"] = cli("rlhf", "reward", "--out", root / "reward-init", "--init",
                                 root / "reward-pretrain" / "model", *small)
    results["reward-more"] = cli("rlhf", "reward", "--out", root / "reward-more", "--more-pairs", root / "pairs-unsup",
                                 *small)
    results["dpo"] = cli("rlhf", "dpo", "--out", root / "dpo", "--beta", 0.5, *small)
    results["ppo"] = cli("rlhf", "ppo", "--out", root / "ppo", "--reward-model", root / "reward" / "model",
                         "--classifier", models / "imdb-sentiment", "--prompts", 16, "--iterations", 2,
                         "--batch-size", 8, "--minibatch-size", 4, "--ppo-epochs", 1, "--max-new-tokens", 6,
                         "--target-kl", 3, *common)
    (models / "gpt-imdb-reward").symlink_to(root / "reward" / "model")
    (models / "gpt-imdb").symlink_to(tiny_gpt_dir)
    (models / "gpt-imdb-ppo").symlink_to(root / "ppo" / "model")
    patch.setenv("SCRATCHML_MODELS", str(models))
    yield root, results
    patch.undo()


def cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def shipped(pipeline, monkeypatch):
    root, _ = pipeline
    monkeypatch.setattr("scratchml.rlhf.prompts.reviews", fake_reviews)
    return root


def test_every_step_of_the_pipeline_runs_and_writes_its_model(pipeline):
    root, results = pipeline
    assert results == dict.fromkeys(results, 0)
    assert (root / "models" / "imdb-sentiment" / "weights.safetensors").exists()
    assert [len((root / "pairs" / f).read_text().splitlines()) for f in ("train.jsonl", "valid.jsonl")] == [24, 8]
    assert len((root / "pairs-unsup" / "train.jsonl").read_text().splitlines()) == 16
    assert not (root / "pairs-unsup" / "valid.jsonl").exists()  # only more training pairs
    for step in ("reward", "dpo", "ppo"):
        assert (root / step / "model" / "config.json").exists(), step
    assert (root / "ppo" / "training.png").stat().st_size > 1000  # the PPO curves
    card = (root / "dpo" / "model" / "README.md").read_text()
    assert "scratchml rlhf dpo" in card and "--beta 0.5" in card


def test_each_card_names_the_commands_that_made_its_inputs_in_order(pipeline):
    root, _ = pipeline

    def made_with(step):
        card = (root / step / "model" / "README.md").read_text()
        return [line.split()[2] for line in card.splitlines() if line.startswith("    scratchml rlhf ")]

    assert made_with("reward") == ["pairs", "reward"]
    assert made_with("dpo") == ["pairs", "dpo"]
    assert made_with("ppo") == ["pairs", "reward", "ppo"]
    assert made_with("reward-init") == ["pairs", "reward-pretrain", "reward"]
    assert made_with("reward-more") == ["pairs", "pairs", "reward"]
    from scratchml.rlhf import reward

    assert reward.load(root / "reward-more" / "model")[2]["pairs"] == {"train": 24 + 16, "valid": 8}
    pairs_line = next(line for line in (root / "reward" / "model" / "README.md").read_text().splitlines()
                      if "rlhf pairs" in line)
    assert "--prompts 24" in pairs_line and "--valid-prompts 8" in pairs_line


def test_eval_prints_the_metrics_of_a_policy_and_of_best_of_n(capsys, shipped):
    code, out, _ = run(capsys, "rlhf", "eval", "--prefixes", 8, "--max-new-tokens", 6)
    ref = json.loads(out)
    assert code == 0 and ref["policy"] == "gpt-imdb" and ref["prompts"] == 8
    assert 0 <= ref["positive_rate"] <= 1 and abs(ref["kl"]) < 1e-3 and ref["ppl_ref"] > 1 and 0 < ref["distinct2"] <= 1
    code, out, _ = run(capsys, "rlhf", "eval", "--policy", "gpt-imdb-ppo", "--prefixes", 8, "--max-new-tokens", 6)
    assert code == 0 and json.loads(out)["policy"] == "gpt-imdb-ppo"
    code, out, _ = run(capsys, "rlhf", "eval", "--best-of", 4, "--prefixes", 8, "--max-new-tokens", 6)
    best = json.loads(out)
    assert code == 0 and best["policy"] == "best-of-4" and best["mean_reward"] >= ref["mean_reward"] - 1e-6


def stdin(text: str):
    return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8")


def test_generate_answers_each_stdin_line_in_order(capsys, shipped, monkeypatch):
    monkeypatch.setattr("sys.stdin", stdin("This movie\nI rented it because\n"))
    code, out, _ = run(capsys, "rlhf", "generate", "--max-new-tokens", 5, "--seed", 3)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["prefix"] for r in rows] == ["This movie", "I rented it because"]
    assert all(isinstance(r["continuation"], str) for r in rows)


@pytest.mark.parametrize("args, message", [
    (["dpo", "--beta", "0"], "--beta must be positive"),
    (["dpo", "--beta", "-1"], "--beta must be positive"),
    (["ppo", "--target-kl", "0"], "the KL target must be positive"),
    (["ppo", "--target-kl", "-2"], "the KL target must be positive"),
    (["eval", "--best-of", "0"], "--best-of must be at least 1"),
    (["eval", "--best-of", "2", "--policy", "gpt-imdb-ppo"], "give it without --policy"),
    (["eval", "--policy", "no/such/folder"], "no such model folder"),
    (["eval", "--prefixes", "0"], "the number of prompts must be between 1"),
    (["pairs", "--out", "PAIRS"], "already holds pairs"),
    (["pairs", "--out", "NEW", "--valid-prompts", "-1"], "--valid-prompts at least 0"),
    (["reward", "--more-pairs", "nowhere"], "no such preference file"),
    (["reward", "--pairs", "nowhere"], "no such preference file"),
    (["reward-pretrain", "--valid-reviews", "0"], "--valid-reviews must be at least 1"),
    (["reward-pretrain", "--valid-reviews", "1000"], "too few to hold 1000 out"),
])
def test_bad_settings_are_one_line_errors(capsys, shipped, args, message):
    args = [str(shipped / "pairs") if a == "PAIRS" else str(shipped / "new-pairs") if a == "NEW" else a for a in args]
    if args[0] in ("dpo", "reward", "reward-pretrain"):
        args += [] if "--pairs" in args else ["--pairs", str(shipped / "pairs")]
        args += ["--out", str(shipped / "bad")]
    if args[0] == "ppo":
        args += ["--out", str(shipped / "bad")]
    assert_one_line_error(run(capsys, "rlhf", *args), message)


@pytest.mark.parametrize("text, message", [("", "no prefixes"), ("fine\n\nfine\n", "line 2 is empty")])
def test_an_empty_prefix_file_is_a_one_line_error(capsys, shipped, monkeypatch, text, message):
    monkeypatch.setattr("sys.stdin", stdin(text))
    assert_one_line_error(run(capsys, "rlhf", "generate"), message)


def test_label_exports_and_refuses_an_empty_database(capsys, shipped, tmp_path):
    db = tmp_path / "labels.sqlite"
    assert_one_line_error(run(capsys, "rlhf", "label", "--db", db), "holds no pairs to judge")
    code, out, _ = run(capsys, "rlhf", "label", "--db", db, "--pairs", shipped / "pairs" / "valid.jsonl", "--stats")
    assert code == 0 and json.loads(out)["pairs"] == 8
    code, out, _ = run(capsys, "rlhf", "label", "--db", db, "--export", tmp_path / "out.jsonl")
    assert code == 0 and json.loads(out)["exported"] == 0 and (tmp_path / "out.jsonl").read_text() == ""
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x"}\n')
    assert_one_line_error(run(capsys, "rlhf", "label", "--db", db, "--pairs", tmp_path / "bad.jsonl"),
                          "line 1 is not a preference pair")


def test_the_card_command_reproduces_switches_turned_off():
    """A switch turned off (--no-adaptive-kl) must appear in the card's command, or rerunning it
    would train with the default instead."""
    import shlex

    from scratchml.cli.main import build_parser
    from scratchml.cli.rlhf import reproducing_command

    parser = build_parser()
    args = parser.parse_args(["rlhf", "ppo", "--no-adaptive-kl", "--whiten-rewards", "--iterations", "7"])
    command = reproducing_command(args)
    assert "--no-adaptive-kl" in command and "--whiten-rewards" in command
    again = parser.parse_args(shlex.split(command)[1:])
    assert (again.adaptive_kl, again.whiten_rewards, again.iterations) == (False, True, 7)
