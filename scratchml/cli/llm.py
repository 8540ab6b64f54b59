"""``scratchml llm train | generate | score | export | import-hf``: a GPT trained on movie reviews."""

import codecs
import json
import logging
import shlex
import sys
from pathlib import Path

from scratchml.cli.torch_options import THREADS_HELP, add_bf16, set_threads
from scratchml.errors import ScratchMLError

log = logging.getLogger("scratchml.llm")
MODEL = "gpt-imdb"
MAX_TEXTS = 256  # texts generated in one batch: their keys and values must fit in memory
_MODEL_HELP = "a model folder (default: the shipped models/gpt-imdb)"


def _load(path):
    from scratchml.llm import checkpoint
    from scratchml.shipped import model_dir

    return checkpoint.load(model_dir(MODEL, path))


def _train(args) -> None:
    from dataclasses import fields

    from scratchml.llm.config import TrainConfig
    from scratchml.llm.train import train

    set_threads(args.threads)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    flags = [f"--{f.name.replace('_', '-')} {getattr(cfg, f.name)}" for f in fields(TrainConfig)
             if f.name != "bf16" and getattr(cfg, f.name) != f.default]
    flags += {True: ["--bf16"], False: ["--no-bf16"], None: []}[cfg.bf16]
    flags += ["--resume"] * args.resume + [f"--stop-after {args.stop_after}"] * bool(args.stop_after)
    command = " ".join(["scratchml llm train --out", shlex.quote(str(args.out)), *flags])
    summary = train(cfg, args.out, resume=args.resume, progress=sys.stderr is not None, device=args.device,
                    command=command, stop_after=args.stop_after)
    print(json.dumps(summary))


def _prompt_ids(tokenizer, eot: int, prompt: str, room: int) -> list[int]:
    """The end-of-text token and the prompt, cut from the left to ``room`` tokens when longer."""
    ids = [eot] + tokenizer.encode(prompt, allow_special=False)
    if len(ids) > room:
        log.warning("the prompt has %d tokens and the model reads %d before the new ones: only its last %d are "
                    "used", len(ids), room, room)
        ids = ids[-room:]
    return ids


def _generate(args) -> None:
    import torch

    from scratchml.llm.generate import Sampling, generate
    from scratchml.transformer.precision import use_bf16

    set_threads(args.threads)
    sampling = Sampling(args.temperature, args.top_k, args.top_p, args.greedy)
    sampling.check()
    if not 1 <= args.n * max(1, len(args.prompt)) <= MAX_TEXTS:
        raise ScratchMLError(f"-n times the prompts must be between 1 and {MAX_TEXTS}, "
                             f"got {args.n} x {max(1, len(args.prompt))}")
    model, tokenizer, _ = _load(args.model)
    context = model.cfg.context
    if not 1 <= args.max_new_tokens < context:
        raise ScratchMLError(f"--max-new-tokens must be between 1 and {context - 1} (the context minus one), "
                             f"got {args.max_new_tokens}")
    prompts = args.prompt or [""]
    room = context - args.max_new_tokens
    ids = [_prompt_ids(tokenizer, model.cfg.eot_id, p, room) for p in prompts for _ in range(args.n)]
    texts = [p for p in prompts for _ in range(args.n)]
    generator = torch.Generator().manual_seed(args.seed)
    bf16 = use_bf16(next(model.parameters()).device, args.bf16)
    if len(ids) == 1:  # one text: stream it as it comes, character by character
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sys.stdout.write(texts[0])
        sys.stdout.flush()

        def show(_row, token):
            sys.stdout.write(decoder.decode(tokenizer.token_bytes(token)))
            sys.stdout.flush()
        generate(model, ids, args.max_new_tokens, sampling, generator, on_token=show, bf16=bf16)
        print(decoder.decode(b"", final=True))
        return
    continuations = generate(model, ids, args.max_new_tokens, sampling, generator, bf16=bf16)
    for k, (text, new) in enumerate(zip(texts, continuations)):
        print(f"--- {k + 1}/{len(ids)}")
        print(text + tokenizer.decode(new))


def _documents(args) -> list[str]:
    if args.file == "-":
        raw = sys.stdin.buffer.read()
        name = "stdin"
    else:
        try:
            with open(args.file, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise ScratchMLError(f"cannot read {args.file}: {e.strerror or e}") from None
        name = args.file
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScratchMLError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not args.jsonl:
        return [text]
    docs = []
    # split on "\n" only: str.splitlines() also breaks at U+2028, U+0085 and others, which JSON
    # strings may hold unescaped
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ScratchMLError(f"{name} line {n} is not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ScratchMLError(f"{name} line {n} has no \"text\" string")
        docs.append(row["text"])
    return docs


def _score(args) -> None:
    from scratchml.llm.score import bits_per_byte

    set_threads(args.threads)
    docs = _documents(args)
    model, tokenizer, _ = _load(args.model)
    knn = None
    if args.knn:
        from scratchml.llm.knn import KNNLM, load_or_build

        if args.knn_tokens < model.cfg.context + 1:
            raise ScratchMLError(f"--knn-tokens must be at least {model.cfg.context + 1}, got {args.knn_tokens}")
        knn = KNNLM(load_or_build(model, tokenizer, args.datastore, args.knn_tokens, progress=sys.stderr is not None))
    result = bits_per_byte(model, tokenizer, docs, args.stride, progress=sys.stderr is not None, knn=knn)
    if knn is not None:
        result["knn"] = {"entries": len(knn.datastore), **{k: v for k, v in vars(knn.settings).items()}}
    print(json.dumps(result))


def _new_folder(out: str, source: str | None = None) -> Path:
    """``out``, refused when it holds anything: writing a model replaces the folder as a whole."""
    path = Path(out).resolve()
    if source is not None and path == Path(source).resolve():
        raise ScratchMLError(f"--out {out} is the folder being read: choose another")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ScratchMLError(f"{out} exists and is not empty: choose a new folder (it would be replaced whole)")
    return path


def _export(args) -> None:
    from scratchml.llm.hf import export_hf
    from scratchml.shipped import model_dir

    out = _new_folder(args.out, str(model_dir(MODEL, args.model)))
    model, tokenizer, _ = _load(args.model)
    print(json.dumps({"out": str(export_hf(model, tokenizer, out)), "format": args.format}))


def _import_hf(args) -> None:
    from scratchml.llm import checkpoint
    from scratchml.llm.hf import import_hf

    out = _new_folder(args.out, args.folder)
    model, tokenizer = import_hf(args.folder)
    checkpoint.save(out, model, tokenizer, {"imported_from": str(args.folder)})
    print(json.dumps({"out": args.out, "parameters": model.num_parameters(), "vocab_size": tokenizer.vocab_size}))


def register(sub) -> None:
    from scratchml.llm.config import TrainConfig

    d = TrainConfig()
    llm = sub.add_parser("llm", help="a GPT language model trained on IMDb reviews: train, generate, score")
    lsub = llm.add_subparsers(dest="llm_command", required=True, metavar="COMMAND")

    t = lsub.add_parser("train", help="train the tokenizer and the GPT on IMDb's train + unsup reviews")
    t.add_argument("--out", default="runs/gpt", help="output folder (checkpoint/, model/, metrics.csv, training.png)")
    t.add_argument("--resume", action="store_true", help="continue OUT/checkpoint exactly where it stopped")
    for name, kind, text in [
        ("max_steps", int, "optimizer steps; the learning rate's cosine ends there"),
        ("batch_size", int, "windows of --context tokens per step"), ("lr", float, "peak learning rate"),
        ("min_lr_ratio", float, "the cosine decays to lr x this"), ("beta2", float, "AdamW's second-moment decay"),
        ("warmup_steps", int, None), ("weight_decay", float, None), ("dropout", float, None),
        ("context", int, "tokens the model reads"), ("d_model", int, None), ("n_layers", int, None),
        ("n_heads", int, None), ("vocab_size", int, "BPE vocabulary, the end-of-text token included"),
        ("eval_every", int, "validate and checkpoint every N steps"), ("seed", int, None),
        ("train_limit", int, "only the first N reviews of each split (0: all)"),
        ("minutes", float, "stop after this long in this session, resumable (0: no limit)"),
        ("checkpoint_minutes", float, None)]:
        t.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(d, name),
                       help=f"{text + '; ' if text else ''}default: {getattr(d, name)}")
    t.add_argument("--stop-after", type=int, default=0, help="stop after step N, resumable (0: run to the end)")
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    t.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(t)
    t.set_defaults(func=_train)

    g = lsub.add_parser("generate", help="continue a prompt, streaming the text")
    g.add_argument("prompt", nargs="*", help="prompts (none: a review from scratch)")
    g.add_argument("--model", help=_MODEL_HELP)
    g.add_argument("--temperature", type=float, default=0.8, help="below 1: safer text; above: wilder (default 0.8)")
    g.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest tokens only (0: off)")
    g.add_argument("--top-p", type=float, default=0.95, help="sample in the smallest set of likeliest tokens "
                   "whose probability reaches p (1: off; default 0.95)")
    g.add_argument("--greedy", action="store_true", help="always the likeliest token (no sampling)")
    g.add_argument("--max-new-tokens", type=int, default=120)
    g.add_argument("-n", type=int, default=1, help="continuations per prompt")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(g)
    g.set_defaults(func=_generate)

    s = lsub.add_parser("score", help="bits per byte of a text under the model (JSON line)")
    s.add_argument("file", metavar="FILE", help="a UTF-8 text file, or - for stdin")
    s.add_argument("--model", help=_MODEL_HELP)
    s.add_argument("--jsonl", action="store_true", help='one document per line, {"text": ...}')
    s.add_argument("--stride", type=int, default=None, help="sliding-window step for long documents "
                   "(default: half the context)")
    s.add_argument("--knn", action="store_true", help="kNN-LM: mix in a datastore of the model's training text "
                   "(built on first use and cached)")
    s.add_argument("--datastore", help="the datastore folder for --knn (default: the model's cached one)")
    s.add_argument("--knn-tokens", type=int, default=4_000_000, help="training tokens in a new datastore "
                   "(default 4000000)")
    s.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    s.set_defaults(func=_score)

    e = lsub.add_parser("export", help="write the model as a Hugging Face GPT-2 folder")
    e.add_argument("model", nargs="?", default=None, help=_MODEL_HELP)
    e.add_argument("--format", choices=["hf"], default="hf")
    e.add_argument("--out", required=True, metavar="DIR")
    e.set_defaults(func=_export)

    i = lsub.add_parser("import-hf", help="read a Hugging Face GPT-2 folder (safetensors) into a model folder")
    i.add_argument("folder", metavar="DIR")
    i.add_argument("--out", required=True, metavar="MODEL")
    i.set_defaults(func=_import_hf)
