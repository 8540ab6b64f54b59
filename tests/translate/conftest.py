"""A synthetic parallel corpus small enough to memorize: 'Spanish' is the English words reversed."""

import random

import pytest
import torch

from scratchml.translate.config import TrainConfig
from scratchml.translate.corpus import Splits

# Tiny models run fastest on one thread; two threads spin-wait for each other on a busy machine.
torch.set_num_threads(1)

WORDS = "cat dog sees big small red house runs eats the a tree".split()


def toy_pair(rng: random.Random) -> tuple[str, str]:
    words = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
    return " ".join(words), " ".join(w.upper() for w in reversed(words))


@pytest.fixture
def toy_splits() -> Splits:
    rng = random.Random(0)
    train = [toy_pair(rng) for _ in range(48)]
    return Splits(train=train, valid=train[:8], removed=0)


def toy_config(**over) -> TrainConfig:
    base = dict(size="tiny", vocab_size=300, max_tokens=160, lr=3e-3, warmup_steps=10, dropout=0.0,
                minutes=10, max_steps=6, bf16=False, checkpoint_minutes=100, valid_bleu_sentences=0,
                ema_decay=0.0)
    return TrainConfig(**{**base, **over})
