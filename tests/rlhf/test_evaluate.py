"""The evaluation's pieces against independent computations: best-of-n's KL against the exact KL of
a discrete best-of-n distribution, distinct bigrams by hand, log-probabilities against the model run on
each sequence alone, and the metrics of a policy compared with itself."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchml.rlhf.evaluate import best_of, best_of_n_kl, distinct_bigrams, evaluate, logprobs, sample_all
from scratchml.rlhf.rollout import Rollout


@pytest.mark.parametrize("n", [1, 2, 4, 16, 64])
def test_best_of_n_kl_is_the_limit_of_the_exact_discrete_kl(n):
    # K equally likely outcomes with distinct rewards: best-of-n picks outcome i (in reward order) with
    # probability (i/K)^n − ((i−1)/K)^n, so its KL to the uniform distribution can be summed exactly
    K = 200_000
    i = np.arange(1, K + 1, dtype=np.float64)
    q = (i / K) ** n - ((i - 1) / K) ** n
    q = q[q > 0]
    exact = float(np.sum(q * np.log(q * K)))
    assert best_of_n_kl(n) == pytest.approx(exact, abs=2e-3)


def test_distinct_bigrams():
    assert distinct_bigrams(["a b a b", "a b c"]) == pytest.approx(3 / 5)  # ab ba ab | ab bc
    assert distinct_bigrams(["one", ""]) == 0.0


def test_logprobs_equal_each_continuation_run_alone(tiny):
    model, tok = tiny
    eot = model.cfg.eot_id
    roll = Rollout([[eot, 5, 6], [eot, 9]], [[20, 21, eot], [22]], ["", ""])
    got = logprobs(model, roll, bf16=False)
    for (p, c), lp in zip(zip(roll.prompts, roll.continuations), got):
        with torch.no_grad():
            logits = model(torch.tensor([p + c]))[0, len(p) - 1:-1]
        want = F.log_softmax(logits.float(), -1).gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
        torch.testing.assert_close(lp, want, atol=1e-5, rtol=1e-5)


class Constant:
    """A reward model and a classifier that score by a token count, for a check independent of training."""

    def score(self, prompts, continuations):
        return torch.tensor([float(len(c)) for c in continuations])

    def probability(self, texts):
        return np.array([0.9 if "great" in t else 0.1 for t in texts])


def test_a_policy_against_itself_has_zero_kl_and_best_of_picks_the_top_reward(tiny):
    model, tok = tiny
    eot = model.cfg.eot_id
    prompts = [[eot] + tok.encode("This movie"), [eot] + tok.encode("Bad plot")] * 4
    roll = sample_all(model, tok, prompts, 6, seed=0)
    assert roll.continuations == sample_all(model, tok, prompts, 6, seed=0).continuations  # the seed decides
    m = evaluate(roll, model, model, Constant(), Constant(), tok, bf16=False)
    assert m["kl"] == pytest.approx(0, abs=1e-6) and m["prompts"] == 8
    tokens = sum(map(len, roll.continuations))
    ref = logprobs(model, roll, bf16=False)
    assert m["ppl_ref"] == pytest.approx(math.exp(-sum(r.sum().item() for r in ref) / tokens), rel=1e-6)
    assert m["positive_rate"] == pytest.approx(np.mean(["great" in t for t in roll.texts]))
    draws = [sample_all(model, tok, prompts, 6, seed=s) for s in range(3)]
    scores = torch.stack([Constant().score(d.prompts, d.continuations) for d in draws])
    best = best_of(draws, scores, 3)
    assert [len(c) for c in best.continuations] == scores.max(0).values.int().tolist()
