"""Fine-tune the sentence encoder on a benchmark's training queries, contrastively.

all-MiniLM-L6-v2 learned general sentence similarity; a claim and the abstract that supports it are
a narrower relation. Showing it the judged (claim, abstract) pairs of SciFact's training split adapts it
(the recipe of Karpukhin et al. 2020, DPR, and of sentence-transformers' fine-tuning):

- the in-batch loss of ``contrastive.py`` on batches of (query, passage) pairs from ``pairs.py``,
  optionally with one BM25 hard negative per query;
- each text becomes a vector exactly as ``Encoder`` makes it (``encoder.embed``: BERT, mean pooling,
  L2 normalization), queries cut to 64 tokens and passages to 256;
- AdamW (Loshchilov & Hutter 2019) with weight decay 0.01 except on biases and LayerNorm gains, a
  learning rate that rises linearly over the first 10 % of the steps and then falls linearly towards
  0 (Devlin et al. 2019, BERT), and gradients clipped to norm 1;
- validation: nDCG@10 of the held-out training queries, by exact search over the whole collection,
  before training and after every epoch (or every ``eval_every`` steps); the model folder keeps the
  best weights, so validation picks the number of steps.

Our BERT has no dropout (sentence-transformers fine-tunes with BERT's 0.1), and the batches follow
from (seed, epoch) alone, so a run resumed from its checkpoint (``resume=True``) takes bit for bit the
steps the uninterrupted run takes: there is no random state to save.

Files in ``out_dir``: ``model/`` (the best weights, a folder ``Encoder.load`` reads, with ``README.md``
and ``finetune.json`` describing the run), ``checkpoint/``, ``metrics.csv`` and ``training.png``.

Time on a 2-core CPU, measured with one thread: a step of 32 pairs (passages cut to 256 tokens, as 72 %
of SciFact's abstracts are) takes about 12 s (forward 5 s, backward and update 7 s), so an epoch of
SciFact's 26 batches about 5 minutes; hard negatives double the passages, about 1.8 times as long. A
validation encodes the 5,183 abstracts, about 5 minutes (1.8 s per 32), and runs before training and
after every epoch. A second thread takes off part of that.
"""

import json
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.files import refuse_fresh_start, write_text_atomic
from scratchml.retrieve import finetune_io, pairs
from scratchml.retrieve.bert import Bert
from scratchml.retrieve.contrastive import SCALE, in_batch_loss
from scratchml.retrieve.encoder import Encoder, embed, minilm_dir
from scratchml.retrieve.metrics import ndcg_at_k
from scratchml.retrieve.vectors import ExactIndex
from scratchml.retrieve.wordpiece import WordPiece
from scratchml.training import append_metrics, load_optimizer, optimizer_tensors, truncate_metrics


def learning_rate(step: int, total: int, peak: float, warmup: float) -> float:
    """The rate of step ``step`` (1 .. total): up linearly over the first ``warmup`` fraction of the
    steps, then down linearly, to peak / (steps of decay) at the last step."""
    w = round(warmup * total)
    return peak * step / w if step <= w else peak * (total - step + 1) / (total - w + 1)


def validation_ndcg(model: Bert, tokenizer: WordPiece, data: pairs.RetrievalData, qrels: dict, query_length: int,
                    passage_length: int, device: str, progress: bool) -> float:
    """nDCG@10 of the queries of ``qrels``, searching the whole collection exactly."""
    encoder = Encoder(tokenizer, model, device)
    doc_ids = list(data.corpus)
    docs = encoder.encode([data.corpus[d] for d in doc_ids], max_length=passage_length, progress=progress)
    query_ids = list(qrels)
    queries = encoder.encode([data.queries[q] for q in query_ids], max_length=query_length)
    scores, columns = ExactIndex(docs).search(queries, 10)  # (Q, 10) each
    run = {q: {doc_ids[c]: float(s) for s, c in zip(row_s, row_c)}
           for q, row_s, row_c in zip(query_ids, scores, columns)}
    model.train()
    return ndcg_at_k(qrels, run, 10)


def _check(settings: dict, max_steps: int) -> None:
    problems = [text for bad, text in [
        (settings["batch_size"] < 2, "batch_size must be at least 2: the other pairs of a batch are the negatives"),
        (settings["epochs"] < 1, "epochs must be at least 1"),
        (settings["lr"] <= 0, "lr must be positive"),
        (not 0 <= settings["valid_fraction"] < 1, "valid_fraction must be in [0, 1)"),
        (not 0 <= settings["warmup"] < 1, "warmup (a fraction of the steps) must be in [0, 1)"),
        (min(settings["query_length"], settings["passage_length"]) < 3, "query_length and passage_length "
         "must be at least 3 ([CLS], a piece, [SEP])"),
        (settings["eval_every"] < 0 or max_steps < 0, "eval_every and max_steps must be 0 (off) or positive"),
    ] if bad]
    if problems:
        raise ScratchMLError("; ".join(problems))


def _tensors(tokenizer: WordPiece, rows: list[list[int]], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    padded = tokenizer.pad(rows)
    return torch.from_numpy(padded.ids).to(device), torch.from_numpy(padded.attention_mask).to(device)  # (B, T)


def _card(info: dict) -> str:
    rows = "\n".join(f"| {step} | {ndcg:.4f} |" for step, ndcg in info["evaluations"])
    settings = ", ".join(f"{k}={v}" for k, v in info["settings"].items())
    return (f"# {info['base_model']}, fine-tuned contrastively on {info['data']}\n\n"
            f"In-batch negatives (InfoNCE, scale {info['settings']['scale']}), "
            f"{'with' if info['settings']['hard_negatives'] else 'without'} BM25 hard negatives; "
            f"{info['pairs']} pairs of {info['train_queries']} training queries, {info['total_steps']} steps.\n"
            f"Settings: {settings}.\n\n"
            f"Validation ({info['valid_queries']} held-out training queries, exact search), "
            f"kept weights: step {info['best_step']}.\n\n| step | nDCG@10 |\n| ---: | ---: |\n{rows}\n\n"
            "Load with `scratchml.retrieve.Encoder.load(\"<this folder>\")`, or pass the folder as `--model DIR`.\n")


def finetune(out_dir: str | os.PathLike, *, model_dir: str | os.PathLike | None = None, epochs: int = 1,
             batch_size: int = 32, lr: float = 2e-5, hard_negatives: bool = False, resume: bool = False,
             seed: int = 0, progress: bool = True, valid_fraction: float = 0.1, query_length: int = 64,
             passage_length: int = 256, scale: float = SCALE, warmup: float = 0.1, weight_decay: float = 0.01,
             clip_norm: float = 1.0, eval_every: int = 0, max_steps: int = 0, checkpoint_minutes: float = 10.0,
             device: str = "cpu", data: pairs.RetrievalData | None = None) -> dict:
    """Fine-tune the BERT of ``model_dir`` (all-MiniLM-L6-v2 by default) on ``data`` (SciFact's
    training claims by default) into ``out_dir``; returns a summary. ``resume`` goes on from
    ``out_dir/checkpoint`` (its own model, not ``model_dir``), with the same settings; ``max_steps``
    stops after that many steps in all, leaving a checkpoint (the schedule still spans every epoch).
    ``valid_fraction`` 0: no validation, the model folder holds the last weights."""
    settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, hard_negatives=hard_negatives, seed=seed,
                    valid_fraction=valid_fraction, query_length=query_length, passage_length=passage_length,
                    scale=scale, warmup=warmup, weight_decay=weight_decay, clip_norm=clip_norm, eval_every=eval_every)
    _check(settings, max_steps)
    out = Path(out_dir)
    ckpt, model_out, metrics = out / "checkpoint", out / "model", out / "metrics.csv"
    prog = {"step": 0, "epoch": 0, "batch": 0, "loss_sum": 0.0, "loss_steps": 0, "elapsed": 0.0, "evaluations": []}
    if resume:
        source, saved, optimizer_state = finetune_io.read_checkpoint(ckpt)
        changed = sorted(k for k in settings if saved["settings"].get(k) != settings[k])
        if changed:
            raise ScratchMLError(f"{ckpt} was trained with " + ", ".join(f"{k}={saved['settings'].get(k)!r}"
                                                                          for k in changed) + ": resume with those")
        prog.update(saved["progress"])
        base = saved["base_model"]
    else:
        refuse_fresh_start(ckpt, "resume it (resume=True, or --resume)")
        source = base = minilm_dir(model_dir)
    tokenizer, model, kept = WordPiece.load(source), Bert.load(source).to(device), finetune_io.read_kept_files(source)

    data = data or pairs.scifact_train()
    train_qrels, valid_qrels = pairs.split_qrels(data.qrels, valid_fraction)
    negatives = pairs.bm25_negatives(data, [q for q in data.queries if q in train_qrels]) if hard_negatives else None
    train_pairs = pairs.training_pairs(data, train_qrels, negatives)
    plan = [pairs.batches(train_pairs, batch_size, seed, epoch) for epoch in range(epochs)]
    total = sum(map(len, plan))
    if not total:
        raise ScratchMLError(f"{len(train_pairs)} training pair(s): not enough for a batch of two; the data needs "
                             "queries with judged relevant documents outside the validation part")
    if prog["epoch"] >= epochs:
        raise ScratchMLError(f"{out} has finished its {epochs} epoch(s); the model is in {model_out}")
    if max_steps and prog["step"] >= max_steps:
        raise ScratchMLError(f"{ckpt} has taken {prog['step']} steps already: raise max_steps, or set it to 0")
    query_rows = {p.query_id: tokenizer.encode(data.queries[p.query_id], query_length) for p in train_pairs}
    passage_rows = {d: tokenizer.encode(data.corpus[d], passage_length)
                    for p in train_pairs for d in (p.doc_id, p.negative_id) if d is not None}

    decay = [p for p in model.parameters() if p.dim() >= 2]  # not the biases and LayerNorm gains
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    if resume:
        load_optimizer(optimizer, optimizer_state)
        truncate_metrics(metrics, prog["step"])
    out.mkdir(parents=True, exist_ok=True)
    run_start = time.time() - prog["elapsed"]

    def info() -> dict:
        best = max(prog["evaluations"], key=lambda e: e[1], default=(prog["step"], None))
        return {"base_model": str(base), "data": data.name, "settings": settings, "pairs": len(train_pairs),
                "train_queries": len(train_qrels), "valid_queries": len(valid_qrels), "total_steps": total,
                "evaluations": prog["evaluations"], "best_step": best[0], "valid_ndcg@10": best[1],
                "baseline_ndcg@10": prog["evaluations"][0][1] if prog["evaluations"] else None}

    def save_model() -> None:
        texts = {"README.md": _card(info()), "finetune.json": json.dumps(info(), indent=1)}
        finetune_io.write_folder(model_out, model, kept, texts)

    def save_checkpoint() -> None:
        prog["elapsed"] = time.time() - run_start
        state = json.dumps({"settings": settings, "base_model": str(base), "progress": prog}, indent=1)
        moments = {"optimizer.safetensors": optimizer_tensors(optimizer)}
        finetune_io.write_folder(ckpt, model, kept, {"progress.json": state}, moments)

    def evaluate() -> None:
        """A row of metrics.csv; a validation, and the model folder when it is the best so far."""
        ndcg = None
        if valid_qrels:
            ndcg = validation_ndcg(model, tokenizer, data, valid_qrels, query_length, passage_length, device, progress)
            best = max((e[1] for e in prog["evaluations"]), default=None)
            prog["evaluations"].append([prog["step"], ndcg])
            if best is None or ndcg > best:
                save_model()
        loss = prog["loss_sum"] / prog["loss_steps"] if prog["loss_steps"] else None
        minutes = round((time.time() - run_start) / 60, 2)
        append_metrics(metrics, {"step": prog["step"], "epoch": prog["epoch"], "train_loss": loss,
                                             "valid_ndcg@10": ndcg, "minutes": minutes})
        prog["loss_sum"], prog["loss_steps"] = 0.0, 0
        save_checkpoint()
        finetune_io.plot_metrics(metrics, out / "training.png")

    if not resume:
        evaluate()  # the starting point: the base model's validation score
    model.train()
    step_losses, last_save, stop = [], time.time(), False
    while prog["epoch"] < epochs and not stop:
        epoch_batches = plan[prog["epoch"]]
        bar = tqdm(total=len(epoch_batches), initial=prog["batch"], desc=f"epoch {prog['epoch'] + 1}/{epochs}",
                   unit="batch", disable=not progress, dynamic_ncols=True)
        for b in range(prog["batch"], len(epoch_batches)):
            batch = [train_pairs[i] for i in epoch_batches[b]]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(prog["step"] + 1, total, lr, warmup)
            queries = embed(model, *_tensors(tokenizer, [query_rows[p.query_id] for p in batch], device))  # (B, C)
            columns = [p.doc_id for p in batch] + [p.negative_id for p in batch if p.negative_id is not None]
            passages = embed(model, *_tensors(tokenizer, [passage_rows[d] for d in columns], device))  # (N, C)
            loss = in_batch_loss(queries, passages, scale, pairs.ignore_mask(batch, data.qrels).to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            step_losses.append(loss.item())
            prog["step"], prog["batch"] = prog["step"] + 1, b + 1
            prog["loss_sum"], prog["loss_steps"] = prog["loss_sum"] + step_losses[-1], prog["loss_steps"] + 1
            bar.update(1)
            bar.set_postfix(loss=f"{prog['loss_sum'] / prog['loss_steps']:.3f}", step=prog["step"], refresh=False)
            if b + 1 == len(epoch_batches):
                prog["epoch"], prog["batch"] = prog["epoch"] + 1, 0
            if b + 1 == len(epoch_batches) or (eval_every and prog["step"] % eval_every == 0):
                evaluate()
                last_save = time.time()
            elif (max_steps and prog["step"] >= max_steps) or time.time() - last_save >= checkpoint_minutes * 60:
                save_checkpoint()
                last_save = time.time()
            if max_steps and prog["step"] >= max_steps:
                stop = True
                break
        bar.close()
    finished = prog["epoch"] >= epochs
    if finished and not valid_qrels:
        save_model()
    elif finished:
        write_text_atomic(model_out / "README.md", _card(info()))
        write_text_atomic(model_out / "finetune.json", json.dumps(info(), indent=1))
    return {**info(), "model": str(model_out), "finished": finished, "steps": prog["step"], "epochs": prog["epoch"],
            "minutes": (time.time() - run_start) / 60, "step_losses": step_losses}
