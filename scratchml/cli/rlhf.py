"""``scratchml rlhf annotator | pairs | label | reward | dpo | ppo | eval | generate``: steering the GPT towards
positive reviews with preferences, from the ground-truth classifier to the tuned policy.

The pipeline, each step one command (docs/rlhf.md):

    annotator  the sentiment classifier that stands in for people (models/imdb-sentiment)
    pairs      two continuations of each training prefix from π_ref, judged by the annotator
    reward     the reward model: the GPT with a scalar head, trained on the pairs
    dpo        a policy trained on the pairs directly (β sets how far it may move from π_ref)
    ppo        a policy trained against the reward model, with a KL penalty to π_ref
    label      a page where people judge pairs, stored in SQLite; export to JSON lines
    eval       positive rate, reward, KL and fluency of a policy (or best-of-n) on IMDb test prefixes
    generate   a policy's continuations of prefixes read from stdin, as JSON lines
"""

import json
import logging
import shlex
import sys
from pathlib import Path

from scratchml.cli.stdin import read_stdin_lines
from scratchml.cli.torch_options import THREADS_HELP, add_bf16, set_threads
from scratchml.errors import ScratchMLError

log = logging.getLogger("scratchml.rlhf")
REFERENCE, CLASSIFIER, REWARD = "gpt-imdb", "imdb-sentiment", "gpt-imdb-reward"
SHIPPED_POLICIES = ("gpt-imdb", "gpt-imdb-ppo", "gpt-imdb-dpo")


def model_folder(value: str | None, default: str) -> Path:
    """A model folder: ``value`` when it is one, the shipped model of that name, or the default."""
    from scratchml.shipped import model_dir

    if value is None:
        return model_dir(default)
    if Path(value).is_dir():
        return Path(value)
    if "/" not in value and value in (*SHIPPED_POLICIES, CLASSIFIER, REWARD):
        return model_dir(value)
    raise ScratchMLError(f"{value}: no such model folder (shipped names: {', '.join(SHIPPED_POLICIES)})")


def show_progress() -> bool:
    return sys.stderr is not None


NEGATABLE = ("adaptive_kl", "whiten_rewards", "bf16")  # switches with a --no- form


def reproducing_command(args, skip=("func", "command", "rlhf_command", "threads")) -> str:
    """The command line that reproduces this run, for the model card."""
    parts = ["scratchml rlhf", args.rlhf_command]
    for name, value in sorted(vars(args).items()):
        flag = "--" + name.replace("_", "-")
        if value is False and name in NEGATABLE:
            parts.append("--no-" + flag[2:])
        if name in skip or value is None or value is False:
            continue
        for one in value if isinstance(value, list) else [value]:  # a repeatable option, once per value
            parts += [flag] if one is True else [flag, shlex.quote(str(one))]
    return " ".join(parts)


def _annotator(args) -> None:
    import time

    import numpy as np

    from scratchml.llm.imdb import reviews
    from scratchml.rlhf.sentiment import SentimentClassifier

    def labelled(split):
        rows = reviews(split)
        if args.limit:
            rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[:args.limit]]
        return [r.text for r in rows], np.array([r.label for r in rows])

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScratchMLError(f"{out} exists and is not empty: choose a new folder")
    texts, labels = labelled("train")
    start = time.perf_counter()
    log.info("fitting on %d training reviews", len(texts))
    clf = SentimentClassifier.fit(texts, labels, min_df=args.min_df, l2=args.l2, steps=args.steps)
    seconds = time.perf_counter() - start
    test_texts, test_labels = labelled("test")
    accuracy = float(np.mean((clf.probability(test_texts) > 0.5) == test_labels))
    clf.meta.update({"test_accuracy": round(accuracy, 4), "train_reviews": len(texts),
                     "test_reviews": len(test_texts), "command": reproducing_command(args)})
    clf.save(out)
    print(json.dumps({"out": str(out), "test_accuracy": round(accuracy, 4), "test_reviews": len(test_texts),
                      "terms": len(clf.vocabulary), "fit_seconds": round(seconds, 1)}))


def _pairs(args) -> None:
    import numpy as np

    from scratchml.files import write_text_atomic
    from scratchml.llm import checkpoint
    from scratchml.rlhf.annotator import SimulatedAnnotator
    from scratchml.rlhf.preferences import sample_pairs, save_pairs
    from scratchml.rlhf.prompts import review_prefixes
    from scratchml.rlhf.sentiment import SentimentClassifier

    set_threads(args.threads)
    if args.prompts < 1 or args.valid_prompts < 0:
        raise ScratchMLError("--prompts must be at least 1 and --valid-prompts at least 0")
    out = Path(args.out)
    if any((out / name).exists() for name in ("train.jsonl", "valid.jsonl")):
        raise ScratchMLError(f"{out} already holds pairs: choose another folder")
    model, tokenizer, _ = checkpoint.load(model_folder(args.reference, REFERENCE))
    annotator = SimulatedAnnotator(SentimentClassifier.load(model_folder(args.classifier, CLASSIFIER)), args.noise,
                                   args.seed)
    prompts = review_prefixes(args.split, args.prompts + args.valid_prompts, tokenizer, model.cfg.eot_id, args.seed)
    pairs = sample_pairs(model, tokenizer, prompts, annotator, args.max_new_tokens, seed=args.seed,
                         progress=show_progress())
    out.mkdir(parents=True, exist_ok=True)
    # held out by prompt: no validation prefix is seen in training
    save_pairs(out / "train.jsonl", pairs[:args.prompts])
    if args.valid_prompts:
        save_pairs(out / "valid.jsonl", pairs[args.prompts:])
    # what made these pairs, for the cards of the models trained on them
    write_text_atomic(out / "commands.json", json.dumps({"commands": [reproducing_command(args)]}) + "\n")
    p_a = np.array([p.p_a for p in pairs])
    agree = np.mean([(p.p_a >= 0.5) == (p.choice == "a") for p in pairs])
    print(json.dumps({"out": str(out), "train": args.prompts, "valid": args.valid_prompts, "noise": args.noise,
                      "labels_agreeing_with_likelier": round(float(agree), 4),
                      "mean_max_probability": round(float(np.maximum(p_a, 1 - p_a).mean()), 4)}))


def _label(args) -> None:
    from scratchml.rlhf.judgments import JudgmentStore

    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    store = JudgmentStore(db)
    if args.pairs:
        from scratchml.rlhf.preferences import read_pair_texts

        added = store.add_pairs(read_pair_texts(args.pairs))
        log.info("%d new pairs from %s (%d in %s)", added, args.pairs, store.count_pairs(), db)
    if args.export:
        n = store.export(args.export)
        print(json.dumps({"exported": n, "out": args.export, **store.stats()}))
        return
    if args.stats:
        print(json.dumps(store.stats()))
        return
    if not store.count_pairs():
        raise ScratchMLError(f"{db} holds no pairs to judge: give --pairs FILE (from scratchml rlhf pairs)")
    import uvicorn

    from scratchml.serve.label_app import create_label_app

    hosts = tuple(args.allowed_hosts.split(",")) if args.allowed_hosts else ("127.0.0.1", "localhost", "::1",
                                                                              args.host)
    log.info("judging %d pairs at http://%s:%d/ (judgments saved in %s)", store.count_pairs(), args.host, args.port,
             db)
    uvicorn.run(create_label_app(store, hosts), host=args.host, port=args.port, access_log=False,
                server_header=False, timeout_keep_alive=5)


def _same_tokenizer(a, b, what: str) -> None:
    if a.to_dict() != b.to_dict():
        raise ScratchMLError(f"{what} has another tokenizer than the reference model: it was not tuned from it")


def _eval(args) -> None:
    import torch

    from scratchml.llm import checkpoint
    from scratchml.rlhf import reward
    from scratchml.rlhf.evaluate import best_of, best_of_n_kl, draws_for_best_of_n, evaluate, sample_all
    from scratchml.rlhf.prompts import review_prefixes
    from scratchml.rlhf.sentiment import SentimentClassifier
    from scratchml.transformer.precision import use_bf16

    set_threads(args.threads)
    if args.best_of is not None and args.best_of < 1:
        raise ScratchMLError(f"--best-of must be at least 1, got {args.best_of}")
    if args.best_of is not None and args.policy is not None:
        raise ScratchMLError("--best-of samples the reference model: give it without --policy")
    reference, tokenizer, _ = checkpoint.load(model_folder(args.reference, REFERENCE))
    policy = reference
    if args.policy is not None:
        policy, policy_tokenizer, _ = checkpoint.load(model_folder(args.policy, REFERENCE))
        _same_tokenizer(policy_tokenizer, tokenizer, args.policy)
    reward_model, reward_tokenizer, _ = reward.load(model_folder(args.reward_model, REWARD))
    _same_tokenizer(reward_tokenizer, tokenizer, "the reward model")
    classifier = SentimentClassifier.load(model_folder(args.classifier, CLASSIFIER))
    if not 1 <= args.max_new_tokens < reference.cfg.context - 8:
        raise ScratchMLError(f"--max-new-tokens must be between 1 and {reference.cfg.context - 9}")
    prompts = review_prefixes("test", args.prefixes, tokenizer, reference.cfg.eot_id, args.seed)
    bf16 = use_bf16(torch.device("cpu"), args.bf16)
    if args.best_of is not None:
        draws, scores = draws_for_best_of_n(reference, tokenizer, reward_model, prompts, args.best_of,
                                            args.max_new_tokens, args.seed, progress=show_progress())
        result = evaluate(best_of(draws, scores, args.best_of), None, reference, reward_model, classifier,
                          tokenizer, bf16, kl=best_of_n_kl(args.best_of))
        name = f"best-of-{args.best_of}"
    else:
        rollout = sample_all(policy, tokenizer, prompts, args.max_new_tokens, args.seed)
        result = evaluate(rollout, policy, reference, reward_model, classifier, tokenizer, bf16)
        name = args.policy or REFERENCE
    print(json.dumps({"policy": name, **{k: round(v, 4) if isinstance(v, float) else v
                                         for k, v in result.items()}}))


def _generate(args) -> None:
    import torch

    from scratchml.llm import checkpoint
    from scratchml.rlhf.prompts import read_prefixes
    from scratchml.rlhf.rollout import sample

    set_threads(args.threads)
    model, tokenizer, _ = checkpoint.load(model_folder(args.policy, REFERENCE))
    if not 1 <= args.max_new_tokens < model.cfg.context:
        raise ScratchMLError(f"--max-new-tokens must be between 1 and {model.cfg.context - 1}")
    lines = read_stdin_lines()
    eot = model.cfg.eot_id
    prompts = read_prefixes(lines, tokenizer, eot, model.cfg.context, args.max_new_tokens)
    generator = torch.Generator().manual_seed(args.seed)
    for i in range(0, len(prompts), 64):
        roll = sample(model, tokenizer, prompts[i:i + 64], args.max_new_tokens, generator=generator)
        for line, new in zip(lines[i:i + 64], roll.continuations):
            text = tokenizer.decode([t for t in new if t != eot])
            print(json.dumps({"prefix": line, "continuation": text}, ensure_ascii=False), flush=True)


def register(sub) -> None:
    from scratchml.rlhf.config import ANNOTATOR_NOISE

    rlhf = sub.add_parser("rlhf", help="tune the GPT with preferences: annotator, pairs, reward model, DPO, PPO")
    rsub = rlhf.add_subparsers(dest="rlhf_command", required=True, metavar="COMMAND")

    a = rsub.add_parser("annotator", help="train the sentiment classifier that judges pairs (ground truth)")
    a.add_argument("--out", default="models/imdb-sentiment")
    a.add_argument("--min-df", type=int, default=2, help="drop terms found in fewer reviews (default 2)")
    a.add_argument("--l2", type=float, default=1e-4, help="L2 penalty on the weights (default 1e-4)")
    a.add_argument("--steps", type=int, default=300, help="full-batch Adam steps (default 300)")
    a.add_argument("--limit", type=int, default=0, help="a random N reviews of each split only (0: all)")
    a.set_defaults(func=_annotator)

    p = rsub.add_parser("pairs", help="sample two continuations per training prefix and label them")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/train.jsonl and DIR/valid.jsonl")
    p.add_argument("--prompts", type=int, default=24_000,
                   help="training pairs, one per prefix (default 24000: every training review but the held-out ones)")
    p.add_argument("--valid-prompts", type=int, default=1_000, help="held-out pairs (default 1000; 0: none, for "
                   "pairs that only add to another folder's training pairs)")
    p.add_argument("--split", choices=("train", "unsup"), default="train", help="the IMDb reviews whose openings "
                   "are the prompts (default train; unsup: the 50,000 unlabelled ones, which the GPT was trained on)")
    p.add_argument("--noise", type=float, default=ANNOTATOR_NOISE, help="the annotator's Bradley-Terry "
                   f"temperature (0: always the likelier; default {ANNOTATOR_NOISE})")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference", help="π_ref (default: the shipped gpt-imdb)")
    p.add_argument("--classifier", help="the annotator's classifier (default: the shipped imdb-sentiment)")
    p.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    p.set_defaults(func=_pairs)

    lab = rsub.add_parser("label", help="a page where people judge pairs (SQLite); --export writes JSON lines")
    lab.add_argument("--pairs", metavar="FILE", help="pairs to judge (e.g. runs/pairs/valid.jsonl), added to the "
                     "database")
    lab.add_argument("--db", default="runs/labels.sqlite", help="the judgments (default runs/labels.sqlite)")
    lab.add_argument("--host", default="127.0.0.1")
    lab.add_argument("--port", type=int, default=8001)
    lab.add_argument("--allowed-hosts", help="comma-separated host names to answer (default: loopback names)")
    lab.add_argument("--export", metavar="FILE", help="write every judgment to FILE as JSON lines, then exit")
    lab.add_argument("--stats", action="store_true", help="print counts and agreement as JSON, then exit")
    lab.set_defaults(func=_label)

    from scratchml.cli.rlhf_training import register_training

    register_training(rsub)

    e = rsub.add_parser("eval", help="positive rate, reward, KL and fluency on IMDb test prefixes (JSON line)")
    e.add_argument("--policy", help="a GPT folder or a shipped name (gpt-imdb-ppo, gpt-imdb-dpo); default: π_ref")
    e.add_argument("--best-of", type=int, help="instead: best of N samples of π_ref by the reward model")
    e.add_argument("--prefixes", type=int, default=1000, help="test prefixes (default 1000)")
    e.add_argument("--max-new-tokens", type=int, default=48)
    e.add_argument("--seed", type=int, default=0, help="chooses the prefixes and the samples")
    e.add_argument("--reference", help="π_ref (default: the shipped gpt-imdb)")
    e.add_argument("--reward-model", help="default: the shipped gpt-imdb-reward")
    e.add_argument("--classifier", help="ground truth (default: the shipped imdb-sentiment)")
    e.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(e)
    e.set_defaults(func=_eval)

    g = rsub.add_parser("generate", help="continue prefixes read from stdin, one JSON line each")
    g.add_argument("--policy", help="a GPT folder or a shipped name (default: π_ref, gpt-imdb)")
    g.add_argument("--max-new-tokens", type=int, default=48)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    g.set_defaults(func=_generate)
