import logging
import math

import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.llm import checkpoint
from scratchml.rlhf.config import PPOConfig
from scratchml.rlhf.ppo import AdaptiveKL, PPOTrainer, gae, masked_whiten, per_token_rewards, ppo_losses
from scratchml.rlhf.rollout import pack


def test_gae_equals_the_discounted_sum_of_td_errors():
    torch.manual_seed(0)
    rewards, values = torch.randn(3, 5), torch.randn(3, 5)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.float)
    gamma, lam = 0.9, 0.8
    adv, ret = gae(rewards, values, mask, gamma, lam)
    for b in range(3):
        n = int(mask[b].sum())
        v = values[b, :n].tolist() + [0.0]  # the value after the last token is 0
        delta = [rewards[b, t].item() + gamma * v[t + 1] - v[t] for t in range(n)]
        for t in range(n):
            expected = sum((gamma * lam) ** k * delta[t + k] for k in range(n - t))  # A_t = sum (γλ)^k δ_{t+k}
            assert adv[b, t].item() == pytest.approx(expected, abs=1e-5)
            assert ret[b, t].item() == pytest.approx(expected + v[t], abs=1e-5)
        assert (adv[b, n:] == 0).all()


def test_rewards_put_the_score_on_the_last_token_and_the_kl_penalty_everywhere():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -3.0], [-2.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1, 1], [1, 1, 0]])
    rewards, kl = per_token_rewards(torch.tensor([2.0, -1.0]), logp, ref, mask, kl_coef=0.1)
    torch.testing.assert_close(kl, torch.tensor([[0.5, -1.0, 0.0], [1.0, 0.0, 0.0]]))
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 0.1, 2.0], [-0.1, -1.0, 0.0]]))


def test_the_clipped_objective_by_hand(tiny):
    model, _ = tiny
    eot = model.cfg.eot_id
    packed = pack([[eot, 5]], [[7]], eot)
    logits = torch.zeros(1, 1, model.cfg.vocab_size)
    logits[0, 0, 7] = 2.0
    logp = torch.log_softmax(logits, -1)[0, 0, 7]
    cfg = PPOConfig(cliprange=0.2, cliprange_value=0.2, vf_coef=0.1)
    for advantage, old_logp in ((1.0, logp - math.log(1.5)), (-1.0, logp - math.log(0.5))):
        # ratio 1.5 with A > 0 is clipped to 1.2; ratio 0.5 with A < 0 is clipped to 0.8
        values, old_values, returns = torch.tensor([[0.5]]), torch.tensor([[0.0]]), torch.tensor([[1.0]])
        loss, stats = ppo_losses(logits, values, packed, old_logp.view(1, 1), old_values,
                                 torch.tensor([[advantage]]), returns, cfg)
        policy = -advantage * (1.2 if advantage > 0 else 0.8)
        value = 0.5 * max((0.5 - 1.0) ** 2, (0.2 - 1.0) ** 2)  # the clipped prediction is further: it counts
        assert stats["policy_loss"] == pytest.approx(policy, abs=1e-5)
        assert stats["value_loss"] == pytest.approx(value, abs=1e-5)
        assert loss.item() == pytest.approx(policy + 0.1 * value, abs=1e-5) and stats["clipfrac"] == 1.0


def test_whitening_and_the_adaptive_kl_controller():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = masked_whiten(x, mask)
    assert w[0, :3].mean().item() == pytest.approx(0, abs=1e-6) and w[0, 3] == 0
    assert (w[0, :3] ** 2).mean().item() == pytest.approx(1, abs=1e-4)
    kl = AdaptiveKL(0.1, target=6.0, horizon=1000)
    kl.update(12.0, 100)  # far above the target: the error is clipped to +0.2
    assert kl.coef == pytest.approx(0.1 * (1 + 0.2 * 100 / 1000))
    kl.update(5.4, 100)
    assert kl.coef == pytest.approx(0.1 * 1.02 * (1 - 0.1 * 0.1))


class CountReward:
    """A reward model that pays for a token: the share of continuation tokens equal to it."""

    def __init__(self, token):
        self.token = token

    def eval(self):
        return self

    def score(self, prompts, continuations):
        return torch.tensor([sum(t == self.token for t in c) / max(1, len(c)) for c in continuations]) * 5


def prompts_of(model, n=32):
    eot = model.cfg.eot_id
    return [[eot, 5 + i % 7, 20 + i % 5] for i in range(n)]


def test_ppo_raises_the_reward_and_resumes_exactly(tiny_gpt_dir, tmp_path):
    model, _, _ = checkpoint.load(tiny_gpt_dir)
    cfg = PPOConfig(iterations=6, batch_size=16, minibatch_size=8, ppo_epochs=2, lr=3e-3, max_new_tokens=6,
                    target_kl=2.0, init_kl_coef=0.05)
    rm = CountReward(token=40)
    straight = PPOTrainer(tiny_gpt_dir, rm, prompts_of(model), cfg, tmp_path / "a")
    first = straight.run(progress=False)
    assert (tmp_path / "a" / "model" / "model.safetensors").exists()
    part = PPOTrainer(tiny_gpt_dir, rm, prompts_of(model), cfg, tmp_path / "b")
    part.run(progress=False, stop_after=3)
    with pytest.raises(ScratchMLError, match="--resume"):
        PPOTrainer(tiny_gpt_dir, rm, prompts_of(model), cfg, tmp_path / "b")
    resumed = PPOTrainer(tiny_gpt_dir, rm, prompts_of(model), cfg, tmp_path / "b", resume=True)
    second = resumed.run(progress=False)
    assert first == {**second, "minutes": first["minutes"]}
    for name, p in straight.policy.state_dict().items():
        torch.testing.assert_close(p, resumed.policy.state_dict()[name], rtol=0, atol=0)
    # many more iterations: the policy learns to write the paid token
    long = PPOConfig(iterations=40, batch_size=16, minibatch_size=8, ppo_epochs=4, lr=3e-3, max_new_tokens=6,
                     adaptive_kl=False, init_kl_coef=0.01)
    trainer = PPOTrainer(tiny_gpt_dir, rm, prompts_of(model), long, tmp_path / "c")
    rows = [trainer.run(progress=False, stop_after=i) for i in (1, 40)]
    assert rows[1]["score"] > rows[0]["score"] + 1.0 and rows[1]["kl"] > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"target_kl": 0}, "KL target must be positive"), ({"init_kl_coef": -1}, "must not be negative"),
    ({"batch_size": 10, "minibatch_size": 4}, "multiple"),
    ({"lr": 0}, "lr must be positive"), ({"temperature": 0}, "temperature must be positive")])
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ScratchMLError, match=message):
        PPOConfig(**kwargs).check()


def test_a_negative_kl_estimate_is_reported_once(tiny_gpt_dir, tmp_path, caplog):
    model, _, _ = checkpoint.load(tiny_gpt_dir)
    cfg = PPOConfig(iterations=2, batch_size=8, minibatch_size=4, ppo_epochs=1, max_new_tokens=4)
    trainer = PPOTrainer(tiny_gpt_dir, CountReward(token=40), prompts_of(model, 8), cfg, tmp_path / "w")
    real = trainer.rollout

    def negative(prompts):  # as if the samples came from another distribution than the policy's own
        batch = real(prompts)
        batch["stats"]["kl"] = -0.5
        return batch

    trainer.rollout = negative
    logger = logging.getLogger("scratchml.rlhf")  # the command line may have stopped it from propagating
    logger.addHandler(caplog.handler)
    try:
        trainer.run(progress=False)
    finally:
        logger.removeHandler(caplog.handler)
    # the handler may hear a record twice (through the logger and through the root): count records once
    assert len({id(r) for r in caplog.records if "KL estimate is negative" in r.getMessage()}) == 1
