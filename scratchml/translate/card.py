"""The model card (README.md) of an exported translator, written from its own metadata."""

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

from scratchml.data.registry import DATASETS
from scratchml.errors import ScratchMLError
from scratchml.translate.config import TrainConfig
from scratchml.translate.translator import LENGTH_PENALTY

RUN = "runs/nmt"  # scratchml nmt train's default --out


def _number(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def train_command(train: dict, device: str | None = None) -> str:
    """The ``scratchml nmt train`` command of a saved TrainConfig: the flags that differ from the
    defaults, and the device. With a step budget the clock is switched off."""
    defaults = asdict(TrainConfig())
    flags = []
    for key, value in train.items():
        if key not in defaults or value == defaults[key] or key == "minutes" and train.get("max_steps"):
            continue
        if key == "bf16":
            flags.append("--bf16" if value else "--no-bf16")
        else:
            flags.append(f"--{key.replace('_', '-')} {_number(value) if isinstance(value, float) else value}")
    if train.get("max_steps"):
        flags.append("--minutes 0")                         # no clock: the step budget decides
    if device:
        flags.append(f"--device {device}")
    return " ".join(["scratchml nmt train", *flags])


# Settings that decide only when a session stops or what it logs: sessions that differ in nothing
# else are one stage of the recipe.
_NOT_RECIPE = {"minutes", "max_epochs", "checkpoint_minutes", "valid_bleu_sentences"}


def _cooldown_start(train: dict) -> float:
    """The first step whose learning rate the cooldown lowers (train.learning_rate)."""
    return train["max_steps"] - train["cooldown_steps"] + 2 if train["cooldown_steps"] else float("inf")


def _same_recipe(a: dict, b: dict) -> bool:
    """Whether stage ``b`` only continues ``a``. A different step budget or cooldown changes nothing
    for ``a``'s steps when they all came before either cooldown began."""
    if b.get("init"):
        return False                                        # a new optimizer, from the exported model
    ta, tb = a["train"], b["train"]
    if (ta["max_steps"], ta["cooldown_steps"]) != (tb["max_steps"], tb["cooldown_steps"]) and \
            (ta["cooldown_steps"] or tb["cooldown_steps"]) and \
            b["from_step"] >= min(_cooldown_start(ta), _cooldown_start(tb)):
        return False                                        # the cooldown is placed by max_steps
    return (a["processes"], a["device"]) == (b["processes"], b["device"]) and all(
        ta[k] == tb[k] for k in ta if k not in _NOT_RECIPE | {"max_steps", "cooldown_steps"})


def training_commands(meta: dict) -> tuple[list[str], bool]:
    """The commands that replay a run, one per stage (a stage starts where ``--resume`` changed the
    recipe, or where ``--init`` fine-tuned an exported model), and whether they replay it step for
    step. A stage is given the step where it ended as its budget, so the replay stops where the run
    did whatever the clock said — except a stage stopped before its cooldown ended, whose learning
    rates depend on its own ``--max-steps``.
    Checkpoints from before stages were recorded hold only the last session's settings."""
    exact, device = "stages" in meta, meta.get("hardware", {}).get("device")
    stages = meta.get("stages") or [{"from_step": 0, "train": meta.get("train", {})}]
    merged: list[dict] = []
    for stage in stages:
        stage = {"from_step": stage["from_step"], "train": asdict(TrainConfig.from_dict(stage["train"])),
                 "processes": stage.get("processes", 1), "device": stage.get("device", device),
                 "init": stage.get("init")}
        if merged and merged[-1]["from_step"] == stage["from_step"] and not stage["init"]:
            merged[-1] = stage                              # a session that took no step
        elif merged and _same_recipe(merged[-1], stage):
            merged[-1] = {**stage, "from_step": merged[-1]["from_step"]}
        else:
            merged.append(stage)
    commands, out = [], RUN
    for i, stage in enumerate(merged):
        end = merged[i + 1]["from_step"] if i + 1 < len(merged) else meta.get("progress", {}).get("step", 0)
        train, note = stage["train"], ""
        if end and (not train["max_steps"] or end < train["max_steps"]):
            if train["cooldown_steps"]:
                exact, note = False, f" (stopped at step {end:,})"
            else:
                train["max_steps"] = end
        command = train_command(train, stage["device"])
        if stage["processes"] > 1:
            command = command.replace("scratchml nmt train",
                                      f"torchrun --nproc-per-node {stage['processes']} -m scratchml.cli.main nmt train")
        if stage["init"]:  # fine-tuning: the run so far is exported, and a new run starts from it
            commands.append(f"scratchml nmt export {out}/checkpoint --out {stage['init']}")
            out = run_folder(sum(1 for s in merged[:i + 1] if s["init"]))
            command = command.replace("nmt train", f"nmt train --init {stage['init']} --out {out}", 1)
        elif i:
            command = command.replace("nmt train", "nmt train --resume" + (f" --out {out}" if out != RUN else ""), 1)
        commands.append(command + note)
    return commands, exact


def run_folder(fine_tunings: int) -> str:
    """Where the replayed commands train: ``scratchml nmt train``'s default --out, then a new folder
    for each fine-tuning."""
    return RUN if not fine_tunings else f"{RUN}-tuned{fine_tunings if fine_tunings > 1 else ''}"


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "?"


def _hardware(h: dict) -> str:
    if not h:                                               # checkpoints from before it was recorded
        return f"{platform.machine()} CPU, {os.cpu_count()} cores, no GPU (the exporting machine)"
    where = f"{h['processes']} × {h['gpu']}" if h.get("gpu") else f"{h['machine']} CPU, {h['cpu_cores']} cores"
    where += f", {h['processes']} processes" if h["processes"] > 1 and not h.get("gpu") else ""
    return where + (f"; computed in {h['precision']}" if h.get("precision") else "")


def _datasets(meta: dict) -> tuple[str, ...]:
    news = meta.get("data", {}).get("corpus") == "tatoeba+news"
    return ("en-es", "en-es-news", "en-es-test") if news else ("en-es", "en-es-test")


def _data(meta: dict) -> str:
    data = meta.get("data")
    if data is None:  # models trained before the split kept the test-overlapping pairs
        return ("- Data: en-es/spa.txt (Tatoeba via manythings.org, CC-BY 2.0), with "
                f"{_count(meta.get('removed_test_overlap'))} pairs removed because their English or Spanish side "
                "(normalized) occurs in a test set; 2 % of the English sentences held out for validation.")
    line = ("- Data: en-es/spa.txt (Tatoeba via manythings.org, CC-BY 2.0), all of it but 2 % of the English "
            "sentences, held out for validation")
    if data.get("tatoeba_copies", 1) > 1:
        line += f", each pair {data['tatoeba_copies']} times an epoch"
    if data.get("phrase_copies"):
        line += f" and pairs of at most 4 English words {data['phrase_copies']} times more"
    if data.get("corpus") == "tatoeba+news":
        line += ("; News Commentary v11 (OPUS, research use) without misaligned pairs, 1 % of the articles held "
                 f"out for validation, {_count(data.get('removed_test_overlap'))} pairs removed because a side "
                 "(normalized) occurs in newstest2013")
    return line + "."


# The full Tatoeba test set shares many sentences with spa.txt, the training data (corpus.py)
TESTSET_LABELS = {"tatoeba-unseen": "Tatoeba-test, pairs absent from the training data",
                  "tatoeba-distant": "the same, not within one word of a training sentence",
                  "tatoeba": "Tatoeba-test, all (overlaps training)"}


def render_card(meta: dict, parameters: int, evals: list[dict]) -> str:
    train, prog, model = meta.get("train", {}), meta.get("progress", {}), meta.get("model", {})
    hardware = meta.get("hardware", {})
    commands, exact = training_commands(meta)
    inits = sum(1 for stage in meta.get("stages") or [] if stage.get("init"))
    out = run_folder(inits)
    minutes = prog.get("elapsed", 0) / 60
    tokens = prog.get("tokens", 0)
    lines = [
        "# scratchml English→Spanish Transformer",
        "",
        "An encoder-decoder Transformer written from scratch in `scratchml.translate` (attention, masks,",
        "positional encodings, beam search are our code; PyTorch supplies tensors and autograd).",
        "",
        "## Model",
        f"- {parameters:,} parameters; d_model {model.get('d_model')}, {model.get('n_heads')} heads, "
        f"{model.get('n_encoder_layers')} encoder + {model.get('n_decoder_layers')} decoder layers (pre-LN), "
        f"FFN {model.get('d_ff')}, shared 10k byte-level BPE embedding tied to the output layer.",
        "- Weights stored as float16 safetensors; the tokenizer is `tokenizer.json` (scratchml BPE)" + (
            "; the first word of each English sentence is read as inside a sentence, with a space before it and "
            "in lower case where that takes fewer tokens (`scratchml/translate/first_word.py`)."
            if train.get("first_word") == "inline" else "."),
        f"- The weights are the exponential moving average (decay {train['ema_decay']}) of the training weights."
        if train.get("ema_decay") else "- The weights are the final training weights (no averaging).",
        "",
        "## Training",
        "- Commands: " + ", then ".join(f"`{c}`" for c in commands) +
        f", then `scratchml nmt export {out}/checkpoint --out models/en-es`. " + (
            "Each stage stops at a step budget, not on the clock, so the commands replay the run; any of "
            "them may be cut into sessions and continued with `--resume`, which continues exactly (tested)."
            if exact else "These are the recorded settings; they do not replay the run step for step (a stage "
            "stopped before its cooldown ended, or the checkpoint predates the recording of each stage's "
            "settings, so earlier sessions may have used others)."),
        f"- {prog.get('step', 0):,} optimizer steps, {prog.get('epoch', 0)} full epochs"
        f"{' since the last --init (its data)' if inits else ''}, {minutes:.1f} minutes of "
        f"training, {tokens:,} target tokens ({tokens / max(prog.get('elapsed', 1), 1):.0f} target tokens/s).",
        f"- Hardware: {_hardware(hardware)}.",
        _data(meta),
        "- Checksums (sha256): " + ", ".join(
            f"`{f.name}` {f.sha256[:16]}…" for name in _datasets(meta) for f in DATASETS[name].files
            if not f.name.endswith(".zip")),
        "",
        "## Quality",
        "sacrebleu, detokenized, case-sensitive (signature in eval.json):",
        "",
        "| test set | sentences | beam | length penalty α | BLEU | chrF | sentences/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in evals:
        name = TESTSET_LABELS.get(e["testset"], e["testset"])
        lines.append(f"| {name} | {e['sentences']:,} | {e['beam']} | {e.get('length_penalty', '?')} | "
                     f"{e['bleu']} | {e['chrf']} | {e['sentences_per_s']} |")
    alphas = {e.get("length_penalty", LENGTH_PENALTY) for e in evals} - {LENGTH_PENALTY}
    flag = f" --length-penalty {alphas.pop()}" if len(alphas) == 1 else " --length-penalty α" if alphas else ""
    # eval.json files written before normalize.py existed have no "normalized" key: their input was raw
    raw = [not e.get("normalized", False) for e in evals]
    flag += " --no-normalize" if raw and all(raw) else ""
    lines += ["", f"Reproduce: `scratchml nmt eval --testset tatoeba-unseen --beam 4{flag} --out "
              "runs/eval-tatoeba-unseen` (and `--testset tatoeba-distant`, `newstest2013`, `tatoeba`)."
              + (" Some evaluations fed the text raw (`--no-normalize`): see their eval.json." if any(raw) and
                 not all(raw) else ""), ""]
    return "\n".join(lines)


def write_card(path: Path, meta: dict, parameters: int, eval_files: list[Path]) -> None:
    evals = []
    for f in eval_files:
        try:
            evals.append(json.loads(Path(f).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ScratchMLError(f"cannot read evaluation {f}: {e}") from None
    Path(path).write_text(render_card(meta, parameters, evals))
