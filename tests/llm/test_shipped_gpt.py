"""The shipped GPT (models/gpt-imdb), when it is there: it loads, writes English-looking review text,
and predicts held-out IMDb test reviews far better than a compressor would."""

import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.shipped import model_dir

try:
    SHIPPED = model_dir("gpt-imdb")
except ScratchMLError:
    SHIPPED = None
pytestmark = pytest.mark.skipif(SHIPPED is None, reason="no shipped models/gpt-imdb in this checkout")


@pytest.fixture(scope="module")
def gpt():
    from scratchml.llm import checkpoint

    model, tok, meta = checkpoint.load(SHIPPED)
    return model, tok, meta


def test_it_continues_a_review_with_words(gpt):
    from scratchml.llm import Sampling
    from scratchml.llm.generate import generate

    model, tok, _ = gpt
    prompt = [model.cfg.eot_id] + tok.encode("This movie was")
    new = generate(model, [prompt], 40, Sampling(greedy=True), torch.Generator().manual_seed(0))[0]
    text = tok.decode(new)
    words = text.split()
    assert len(words) >= 5 and sum(w.strip(".,!?\"'").isalpha() for w in words) >= 0.7 * len(words), text
    assert (SHIPPED / "README.md").exists()


@pytest.mark.dataset("imdb")
def test_held_out_reviews_cost_fewer_bits_than_gzip(gpt):
    from scratchml.llm.imdb import scoring_reviews
    from scratchml.llm.score import bits_per_byte

    model, tok, _ = gpt
    reviews = [r.text for r in scoring_reviews()[:40]]
    assert bits_per_byte(model, tok, reviews)["bits_per_byte"] < 2.0  # gzip -9: 3.23 on the 2,500 reviews
