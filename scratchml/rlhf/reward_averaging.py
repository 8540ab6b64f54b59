"""Average the weights of several reward models (``scratchml rlhf reward-average``).

Reward models fine-tuned from one start (here the pre-trained reward model) with different seeds see
the pairs in different orders and drop different units; each ends in a different place of a basin their
common start shares, so the mean of their weights is itself a good model — often better than each,
because the seeds' idiosyncratic errors average out while what they all learned stays (Wortsman et
al. 2022, "Model soups"; Ramé et al. 2024, "WARM: On the Benefits of Weight Averaged Reward Models").
Unlike an ensemble, the average costs one model's time to run: PPO and best-of-n read it as they
read any reward model. Models trained from different starts have no such shared basin, and their
average is noise; the command says so when their recorded histories differ.

The average's rewards have a scale of their own, so it is normalized again under π_ref, on the same
continuations as a trained reward model is.
"""

import logging

import torch

from scratchml.errors import ScratchMLError
from scratchml.rlhf import reward
from scratchml.rlhf.reward import RewardModel

log = logging.getLogger("scratchml.rlhf")

NORMALIZATION = ("offset", "scale")  # set afterwards, never averaged


def average_weights(models: list[RewardModel]) -> RewardModel:
    """The first model with every weight replaced by the mean over ``models`` (same architecture)."""
    if len(models) < 2:
        raise ScratchMLError(f"averaging needs at least two reward models, got {len(models)}")
    states = [m.state_dict() for m in models]
    first = states[0]
    for i, state in enumerate(states[1:], start=2):
        shapes = {k: tuple(v.shape) for k, v in state.items()}
        if shapes != {k: tuple(v.shape) for k, v in first.items()}:
            raise ScratchMLError(f"reward model {i} has another architecture than the first: "
                                 "their weights cannot be averaged")
    mean = {k: torch.stack([s[k].float() for s in states]).mean(0) for k in first if k not in NORMALIZATION}
    averaged = models[0]
    averaged.load_state_dict({**first, **mean})
    return averaged


def load_for_averaging(folders) -> tuple[list[RewardModel], object, list[dict]]:
    """(models, their shared tokenizer, their metadata); refuses models with different tokenizers."""
    models, metas, tokenizer = [], [], None
    for folder in folders:
        model, tok, meta = reward.load(folder)
        if tokenizer is not None and tok.to_dict() != tokenizer.to_dict():
            raise ScratchMLError(f"{folder} has another tokenizer than {folders[0]}: its weights cannot be averaged")
        tokenizer = tokenizer or tok
        models.append(model.float())
        metas.append(meta)
    # the commands up to the last (the training run itself) record where each model started
    starts = {tuple(m.get("commands", [])[:-1]) for m in metas}
    if len(starts) > 1:
        log.warning("the reward models were not all made from the same start (their model cards differ before "
                    "the last command): averaging helps only models fine-tuned from one start")
    return models, tokenizer, metas


def average_reward_models(folders, train_pairs, valid_pairs, out, commands: list[str] = (),
                          bf16: bool | None = None) -> dict:
    """Average the reward models in ``folders``, normalize the average on ``train_pairs`` (sampled from
    π_ref), measure it on ``valid_pairs`` and save it to ``out`` with its card; returns the metrics.
    ``commands``: the command that averaged them, for the card after those that made each model."""
    from scratchml.rlhf.card import rlhf_card
    from scratchml.rlhf.reward_training import accuracy, normalize_under_reference
    from scratchml.transformer.precision import use_bf16

    models, tokenizer, metas = load_for_averaging(folders)
    model = average_weights(models)
    normalize_under_reference(model, train_pairs)
    metrics = accuracy(model, valid_pairs, use_bf16(torch.device("cpu"), bf16))
    made = [c for m in metas for c in m.get("commands", [])]
    meta = {"train": metas[0].get("train", {}), "reference": metas[0].get("reference"),
            "reference_commands": metas[0].get("reference_commands", []), "pairs": metas[0].get("pairs"),
            "average_of": [{"model": str(f), "seed": m.get("train", {}).get("seed"), "metrics": m.get("metrics")}
                           for f, m in zip(folders, metas)],
            "commands": list(dict.fromkeys([*made, *commands])), "metrics": metrics}
    reward.save(out, model, tokenizer, meta, extra_files={"README.md": rlhf_card("reward", meta)})
    return metrics
