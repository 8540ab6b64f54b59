"""Pre-training the reward model on labelled review openings: which reviews it reads, that it learns
the label, resumes exactly, and that reward training can start from it."""

import pytest
import torch

from scratchml.llm.imdb import Review
from scratchml.rlhf import reward
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.preferences import Pair
from scratchml.rlhf.reward_pretraining import MAX_TOKENS, MIN_TOKENS, pretrain_reward_model, review_openings
from scratchml.rlhf.reward_training import train_reward_model
from tests.rlhf.test_dpo import synthetic_pairs

GOOD = "Good fun, good cast. This movie was great. The acting was great too. Good fun, good cast. " * 3
BAD = "Bad plot, bad acting, boring. A terrible film.\nI walked out after an hour. Bad plot, bad acting. " * 3


def fake_rows(n=40):
    return [Review("train", i, i % 2, (GOOD if i % 2 else BAD) + f" review {i}") for i in range(n)]


def test_openings_leave_out_the_reviews_of_held_out_prompts(tiny):
    model, tok = tiny
    eot = model.cfg.eot_id
    held_out = [Pair("Bad plot", "", "", "a", prompt_ids=[eot] + tok.encode("Bad plot")[:2])]
    train, valid, left_out = review_openings(tok, held_out, valid=4, rows=fake_rows())
    assert left_out == 20 and len(train) + len(valid) == 20  # every negative review opens "Bad plot"
    assert all(o.positive for o in train + valid)
    assert all(MIN_TOKENS <= len(o.ids) <= MAX_TOKENS for o in train + valid)
    assert all(tok.decode(o.ids) == GOOD[:len(tok.decode(o.ids))] for o in train)  # each is a review's opening


def test_pretraining_learns_the_label_resumes_exactly_and_starts_reward_training(tiny_gpt_dir, tiny, tmp_path):
    model, tok = tiny
    train, valid, _ = review_openings(tok, [], valid=8, rows=fake_rows(72))
    cfg = PairTraining(epochs=2, batch_size=16, lr=3e-3, warmup_steps=2, dropout=0.1)
    final = pretrain_reward_model(tiny_gpt_dir, train, valid, tmp_path / "a", cfg, progress=False,
                                  commands=["scratchml rlhf reward-pretrain"])
    assert final["valid_accuracy"] == 1.0
    assert pretrain_reward_model(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, progress=False, stop_after=3) is None
    resumed = pretrain_reward_model(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, resume=True, progress=False)
    assert resumed == {**final, "minutes": resumed["minutes"]}
    a, _, _ = reward.load(tmp_path / "a" / "model")
    b, _, _ = reward.load(tmp_path / "b" / "model")
    for name, p in a.state_dict().items():
        torch.testing.assert_close(p, b.state_dict()[name], rtol=0, atol=0)
        assert p.dtype == torch.float32  # kept whole: it is trained on

    # reward training from it starts where pre-training ended, and its card begins with pre-training
    pairs = synthetic_pairs(model, tok, 16)
    step0 = PairTraining(epochs=1, batch_size=16, lr=1e-12, warmup_steps=0)
    train_reward_model(tiny_gpt_dir, pairs, pairs, tmp_path / "rm", step0, progress=False,
                       commands=["scratchml rlhf reward --init x"], init=tmp_path / "a" / "model")
    rm, _, meta = reward.load(tmp_path / "rm" / "model")
    torch.testing.assert_close(rm.head.weight, a.head.weight, rtol=0, atol=1e-6)
    assert meta["commands"] == ["scratchml rlhf reward-pretrain", "scratchml rlhf reward --init x"]


@pytest.mark.parametrize("valid", [20, 100])
def test_too_few_reviews_for_the_validation_is_a_clear_error(tiny, valid):
    from scratchml.errors import ScratchMLError

    _, tok = tiny
    with pytest.raises(ScratchMLError, match="too few"):
        review_openings(tok, [], valid=valid, rows=fake_rows(20))
