"""``scratchml rlhf reward | dpo | ppo``: the three training runs of the pipeline (cli/rlhf.py has the rest)."""

import argparse
import json
import logging
from dataclasses import fields
from pathlib import Path

from scratchml.cli.rlhf import CLASSIFIER, REFERENCE, REWARD, model_folder, reproducing_command, show_progress
from scratchml.cli.torch_options import THREADS_HELP, add_bf16, set_threads
from scratchml.errors import ScratchMLError

log = logging.getLogger("scratchml.rlhf")


def _load_pairs(folder: str, reference: Path, held_out: bool = True):
    """(training pairs, held-out pairs, the commands that made them: [] when the folder does not say)."""
    from scratchml.llm import checkpoint
    from scratchml.rlhf.preferences import load_pairs, pair_commands

    tokenizer = checkpoint.load(reference)[1]
    eot = tokenizer.special_tokens["<|endoftext|>"]
    return (load_pairs(Path(folder) / "train.jsonl", tokenizer, eot),
            load_pairs(Path(folder) / "valid.jsonl", tokenizer, eot) if held_out else [], pair_commands(folder))


def _pair_training(args):
    from scratchml.rlhf.config import PairTraining

    cfg = PairTraining(**{f.name: getattr(args, f.name) for f in fields(PairTraining)})
    cfg.check()
    return cfg


def _reward(args) -> None:
    from scratchml.rlhf.reward_training import train_reward_model

    set_threads(args.threads)
    cfg = _pair_training(args)
    reference = model_folder(args.reference, REFERENCE)
    train, valid, made_pairs = _load_pairs(args.pairs, reference)
    for folder in args.more_pairs or ():
        more, _, made = _load_pairs(folder, reference, held_out=False)
        train, made_pairs = train + more, made_pairs + made
    final = train_reward_model(reference, train, valid, args.out, cfg, resume=args.resume, progress=show_progress(),
                               commands=[*made_pairs, reproducing_command(args)], stop_after=args.stop_after,
                               bf16=args.bf16, init=args.init and model_folder(args.init, REWARD))
    print(json.dumps({"out": str(Path(args.out) / "model") if final else None, **(final or {"stopped": True})}))


def _reward_pretrain(args) -> None:
    from scratchml.llm import checkpoint
    from scratchml.rlhf.reward_pretraining import pretrain_reward_model, review_openings

    set_threads(args.threads)
    cfg = _pair_training(args)
    reference = model_folder(args.reference, REFERENCE)
    _, held_out, made_pairs = _load_pairs(args.pairs, reference)
    if args.valid_reviews < 1:
        raise ScratchMLError(f"--valid-reviews must be at least 1, got {args.valid_reviews}")
    train, valid, left_out = review_openings(checkpoint.load(reference)[1], held_out, args.valid_reviews, cfg.seed)
    log.info("%d review openings to train on, %d to validate; %d reviews left out (they opened held-out pairs)",
             len(train), len(valid), left_out)
    final = pretrain_reward_model(reference, train, valid, args.out, cfg, resume=args.resume,
                                  progress=show_progress(), commands=[*made_pairs, reproducing_command(args)],
                                  stop_after=args.stop_after, bf16=args.bf16)
    print(json.dumps({"out": str(Path(args.out) / "model") if final else None, **(final or {"stopped": True})}))


def _dpo(args) -> None:
    from scratchml.rlhf.dpo import train_dpo

    set_threads(args.threads)
    cfg = _pair_training(args)
    if not args.beta > 0:
        raise ScratchMLError(f"--beta must be positive, got {args.beta}")
    reference = model_folder(args.reference, REFERENCE)
    train, valid, made_pairs = _load_pairs(args.pairs, reference)
    final = train_dpo(reference, train, valid, args.out, cfg, args.beta, resume=args.resume, progress=show_progress(),
                      commands=[*made_pairs, reproducing_command(args)], stop_after=args.stop_after, bf16=args.bf16)
    print(json.dumps({"out": str(Path(args.out) / "model") if final else None, **(final or {"stopped": True})}))


def _ppo(args) -> None:
    from scratchml.llm import checkpoint
    from scratchml.rlhf import reward
    from scratchml.rlhf.config import PPOConfig
    from scratchml.rlhf.ppo import PPOTrainer
    from scratchml.rlhf.prompts import review_prefixes
    from scratchml.rlhf.sentiment import SentimentClassifier

    set_threads(args.threads)
    cfg = PPOConfig(**{f.name: getattr(args, f.name) for f in fields(PPOConfig)})
    cfg.check()
    reference = model_folder(args.reference, REFERENCE)
    reward_model, _, reward_meta = reward.load(model_folder(args.reward_model, REWARD))
    _, tokenizer, _ = checkpoint.load(reference)
    prompts = review_prefixes("train", args.prompts, tokenizer, tokenizer.special_tokens["<|endoftext|>"],
                              cfg.seed)
    judge = None
    if not args.no_judge:
        judge = SentimentClassifier.load(model_folder(args.classifier, CLASSIFIER)).probability
    trainer = PPOTrainer(reference, reward_model, prompts, cfg, args.out, resume=args.resume,
                         commands=[*reward_meta.get("commands", []), reproducing_command(args)], bf16=args.bf16,
                         judge=judge, tokenizer=tokenizer)
    row = trainer.run(progress=show_progress(), stop_after=args.stop_after)
    done = trainer.progress["iteration"] >= cfg.iterations
    print(json.dumps({"out": str(Path(args.out) / ("model" if done else "checkpoint")), **row}))


def _add_pair_training(p, d, resume_help: str) -> None:
    """The options of a run on pairs, ``d`` (a ``PairTraining``) giving their defaults."""
    from scratchml.rlhf.config import PairTraining

    p.add_argument("--pairs", required=True, metavar="DIR", help="a folder with train.jsonl and valid.jsonl "
                   "(scratchml rlhf pairs)")
    p.add_argument("--reference", help="π_ref, the GPT folder to start from (default: the shipped gpt-imdb)")
    for f in fields(PairTraining):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(d, f.name)), default=getattr(d, f.name),
                       help=f"default: {getattr(d, f.name)}")
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument("--stop-after", type=int, default=0, help="stop after step N, resumable (0: run to the end)")
    p.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(p)


def register_training(rsub) -> None:
    from scratchml.rlhf.config import DPO_TRAINING, REWARD_TRAINING, PPOConfig

    r = rsub.add_parser("reward", help="train the reward model on preference pairs")
    r.add_argument("--out", default="runs/reward", help="OUT/checkpoint while training, OUT/model at the end")
    _add_pair_training(r, REWARD_TRAINING, "continue OUT/checkpoint exactly where it stopped")
    r.add_argument("--init", metavar="MODEL", help="start from this reward model (e.g. from reward-pretrain) "
                   "instead of π_ref with a fresh head")
    r.add_argument("--more-pairs", action="append", metavar="DIR", help="add DIR/train.jsonl to the training "
                   "pairs (e.g. pairs made with --split unsup --valid-prompts 0); repeatable")
    r.set_defaults(func=_reward)

    pre = rsub.add_parser("reward-pretrain", help="pre-train the reward model on labelled review openings "
                          "(the reviews of the held-out pairs' prompts left out)")
    pre.add_argument("--out", default="runs/reward-pretrain", help="OUT/checkpoint while training, OUT/model at "
                     "the end")
    pre.add_argument("--valid-reviews", type=int, default=1_000, help="reviews held out to validate (default 1000)")
    _add_pair_training(pre, REWARD_TRAINING, "continue OUT/checkpoint exactly where it stopped")
    pre.set_defaults(func=_reward_pretrain)

    d = rsub.add_parser("dpo", help="tune a policy on preference pairs with DPO")
    d.add_argument("--out", default="runs/dpo", help="OUT/checkpoint while training, OUT/model at the end")
    d.add_argument("--beta", type=float, default=0.3, help="strength of the pull towards π_ref (default 0.3)")
    _add_pair_training(d, DPO_TRAINING, "continue OUT/checkpoint exactly where it stopped")
    d.set_defaults(func=_dpo)

    c = PPOConfig()
    o = rsub.add_parser("ppo", help="tune a policy against the reward model with PPO")
    o.add_argument("--out", default="runs/ppo", help="OUT/checkpoint while training, OUT/model at the end")
    o.add_argument("--reference", help="π_ref, the policy's start (default: the shipped gpt-imdb)")
    o.add_argument("--reward-model", help="default: the shipped gpt-imdb-reward")
    o.add_argument("--classifier", help="ground truth, logged, never trained on (default: imdb-sentiment)")
    o.add_argument("--no-judge", action="store_true", help="do not log the ground-truth positive rate")
    o.add_argument("--prompts", type=int, default=10_000, help="training prefixes (default 10000)")
    for f in fields(PPOConfig):
        value = getattr(c, f.name)
        if isinstance(value, bool):
            o.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=value,
                           help=f"default: {value}")
        else:
            o.add_argument("--" + f.name.replace("_", "-"), type=type(value), default=value, help=f"default: {value}")
    o.add_argument("--resume", action="store_true", help="continue OUT/checkpoint exactly where it stopped")
    o.add_argument("--stop-after", type=int, default=0, help="stop after iteration N, resumable (0: run to the end)")
    o.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    add_bf16(o)
    o.set_defaults(func=_ppo)
