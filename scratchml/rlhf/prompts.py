"""The task's prompts: the first 2–8 tokens of a movie review, which the policy continues.

As in the DPO paper's IMDb experiment (Rafailov et al. 2023, section 6.1) and TRL's gpt2-sentiment
example, a prompt is the opening of a real review, too short to settle its sentiment ("This movie
was", "I rented it because"): the policy decides where the review goes. Training prompts come from
IMDb's ``train`` split, evaluation prompts from ``test``, which neither the GPT nor the classifier
was trained on.

A prompt is token ids starting with the end-of-text token, as every review in the GPT's training
stream does, followed by the review's first k tokens, k drawn uniformly from 2..8.
"""

import numpy as np

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm.imdb import reviews

MIN_TOKENS, MAX_TOKENS = 2, 8


def review_prefixes(split: str, n: int, tokenizer: Tokenizer, eot_id: int, seed: int = 0) -> list[list[int]]:
    """``n`` prompts from distinct reviews of ``split``, chosen and cut at random with ``seed``."""
    rows = reviews(split)
    if not 1 <= n <= len(rows):
        raise ScratchMLError(f"the number of prompts must be between 1 and {len(rows)} (the {split} reviews), got {n}")
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.permutation(len(rows))[:n]:
        k = int(rng.integers(MIN_TOKENS, MAX_TOKENS + 1))
        # a few hundred characters hold 8 tokens: no need to encode the whole review
        ids = tokenizer.encode(rows[i].text[:400], allow_special=False)[:k]
        out.append([eot_id] + ids)
    return out


def read_prefixes(lines: list[str], tokenizer: Tokenizer, eot_id: int, context: int, room: int) -> list[list[int]]:
    """Prompts from text, one per line (``scratchml rlhf generate``); empty lines are an error, not
    silently a prompt of nothing."""
    out = []
    for n, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            raise ScratchMLError(f"line {n} is empty: give one prefix per line")
        ids = [eot_id] + tokenizer.encode(text, allow_special=False)
        if len(ids) + room > context:
            raise ScratchMLError(f"line {n} has {len(ids) - 1} tokens: with {room} new ones that exceeds the "
                                 f"context of {context}")
        out.append(ids)
    if not out:
        raise ScratchMLError("no prefixes: give one prefix per line")
    return out
