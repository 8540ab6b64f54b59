"""What a fine-tuning run writes: model folders, checkpoints, the metrics CSV and its plot.

A model folder has the layout of all-MiniLM-L6-v2, so ``Encoder.load(folder)``, ``--model DIR`` and
sentence-transformers all read it: ``model.safetensors`` (Hugging Face names), ``config.json``, the
tokenizer files (``vocab.txt`` ...) and sentence-transformers' module files, copied from the model
the run started from. A checkpoint is a model folder plus the training state: ``optimizer.safetensors``
(AdamW's moments) and ``progress.json`` (the counters and settings). No pickle anywhere.

A folder is written whole as ``DIR.tmp``, then swapped in (scratchml/files.py): an interrupted save
leaves the previous folder (``DIR.old`` if the swap itself was cut short, which ``resolve`` reads).
"""

import csv
import json
import math
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scratchml.errors import ScratchMLError
from scratchml.files import resolve, swap_in
from scratchml.retrieve.bert import Bert

# Files of a BERT sentence-embedding folder that fine-tuning leaves as they are.
KEPT_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json",
              "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
              "1_Pooling/config.json")


def read_kept_files(folder: Path) -> dict[str, bytes]:
    """The files of ``folder`` that every model folder of the run copies (those it has)."""
    return {name: (folder / name).read_bytes() for name in KEPT_FILES if (folder / name).is_file()}


def write_folder(path: Path, model: Bert, kept: dict[str, bytes], texts: dict[str, str],
                 tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Write the model folder ``path`` atomically: the weights, the ``kept`` files, ``texts`` (name ->
    content) and ``tensors`` (file name -> tensors, e.g. the optimizer state)."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(model.hf_state_dict(), tmp / "model.safetensors", metadata={"format": "pt"})
    for name, content in kept.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(content)
    for name, text in texts.items():
        (tmp / name).write_text(text, encoding="utf-8")
    for name, state in (tensors or {}).items():
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp / name)
    swap_in(tmp, path)


def read_checkpoint(path: Path) -> tuple[Path, dict, dict[str, torch.Tensor]]:
    """(the folder to load the model from, progress.json, the optimizer tensors)."""
    folder = resolve(path)
    if not (folder / "progress.json").is_file():
        raise ScratchMLError(f"{path} holds no checkpoint to resume (no progress.json): start without resume")
    try:
        progress = json.loads((folder / "progress.json").read_text(encoding="utf-8"))
        optimizer = load_file(folder / "optimizer.safetensors")
    except (OSError, json.JSONDecodeError, SafetensorError) as e:
        raise ScratchMLError(f"{folder} is not a readable checkpoint ({e})") from None
    return folder, progress, optimizer


def plot_metrics(csv_file: Path, png: Path) -> None:
    """Training loss and validation nDCG@10 against the step, from the metrics CSV."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_file, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))

    def column(name):
        return [float(r[name]) if r[name] else math.nan for r in rows]

    steps = column("step")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(steps, column("train_loss"), "o-")
    a.set_ylabel("training loss (in-batch cross-entropy)")
    b.plot(steps, column("valid_ndcg@10"), "o-", color="C2")
    b.set_ylabel("validation nDCG@10")
    for ax in (a, b):
        ax.set_xlabel("step")
        ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
