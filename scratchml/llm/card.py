"""The model card (README.md) of a trained GPT: what it is, how it was made, how well it does."""

import csv
from pathlib import Path


def model_card(meta: dict, metrics_csv: Path) -> str:
    model, train, data = meta["model"], meta["train"], meta["data"]
    with open(metrics_csv, newline="", encoding="utf-8") as f:
        last = list(csv.DictReader(f))[-1]
    reviews = f"the first {train['train_limit']:,} reviews of each" if train["train_limit"] else "the 75,000 reviews"
    commands = "\n".join(f"    {c}" for c in meta.get("commands", []) if c)
    return f"""# gpt-imdb: a small GPT trained on IMDb movie reviews

A decoder-only Transformer (GPT-2's architecture, `scratchml/llm/model.py`) with
{meta['parameters'] / 1e6:.2f} M parameters: {model['n_layers']} layers of width {model['d_model']},
{model['n_heads']} heads, a context of {model['context']} tokens, our byte-level BPE with
{model['vocab_size']} tokens (end-of-text `<|endoftext|>` = {model['eot_id']}). Weights in float16.

Trained from scratch on {reviews} of IMDb's `train` and `unsup` files (`<br />` line breaks
turned into newlines; {train['valid_fraction']:.0%} held out for validation), {data['train_tokens']:,}
tokens, for {meta['progress']['step']:,} steps of {train['batch_size']} windows
({meta['progress']['tokens']:,} tokens, {meta['progress']['elapsed'] / 60:.0f} minutes). The test reviews
were never trained on.

Validation at the end: {float(last['valid_loss']):.3f} nats per token, {float(last['valid_bits_per_byte']):.3f}
bits per byte.

Made with (from the repository root, `SCRATCHML_DATA` pointing at the datasets):

{commands}

Use: `scratchml llm generate "This movie"`, `scratchml llm score FILE`; `scratchml llm export --format hf`
writes a folder that `transformers.GPT2LMHeadModel.from_pretrained` loads.
"""
