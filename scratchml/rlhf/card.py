"""The model card (README.md) of a model the RLHF commands trained: what it is, what it started from,
the settings, the final metrics and the commands that made it."""

import json

WHAT = {
    "reward": "a reward model: the GPT with a scalar head read at the last token, trained with the "
              "Bradley-Terry loss on preference pairs; its scores are shifted and scaled so that continuations "
              "sampled from the reference model average 0 with standard deviation 1",
    "reward-pretrain": "a reward model pre-trained on the openings of labelled IMDb training reviews (positive "
                       "above 0, negative below), the start of a reward model trained on preference pairs",
    "dpo": "a policy tuned from the reference model with Direct Preference Optimization (Rafailov et al. 2023) "
           "on preference pairs",
    "ppo": "a policy tuned from the reference model with PPO (Schulman et al. 2017) against a reward model, "
           "with a per-token KL penalty to the reference (Ziegler et al. 2019)",
}


def rlhf_card(kind: str, meta: dict) -> str:
    settings = meta.get(kind if kind in ("ppo", "dpo") else "train", {})
    if kind == "dpo":
        settings = {**meta.get("train", {}), **settings}
    metrics = meta.get("metrics", {})
    commands = "\n".join(f"    {c}" for c in [*meta.get("reference_commands", []), *meta.get("commands", [])] if c)
    pairs = meta.get("pairs")
    data = (f"Trained on {pairs['train']:,} preference pairs, {pairs['valid']:,} held out for validation.\n\n"
            if pairs else "")
    return f"""# {kind} model

This folder holds {WHAT[kind]}. The architecture is that of the GPT it started from
(`scratchml/llm/model.py`); docs/rlhf.md explains the method.

{data}Settings:

    {json.dumps(settings, sort_keys=True)}

Metrics at the end of training:

    {json.dumps(metrics, sort_keys=True)}

Made with (from the repository root, `SCRATCHML_DATA` pointing at the datasets; the reference model first):

{commands}
"""
