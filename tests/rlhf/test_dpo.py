import types

import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.llm import checkpoint
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.dpo import dpo_loss, sequence_logprobs, train_dpo
from scratchml.rlhf.preferences import Pair
from tests.rlhf.test_rollout import alone


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5])
def test_the_loss_equals_trl_dpo_trainer_loss_on_random_inputs(beta):
    trl = pytest.importorskip("trl")
    g = torch.Generator().manual_seed(int(beta * 100))
    logps = [-torch.rand(64, generator=g) * 50 for _ in range(4)]
    # DPOTrainer.dpo_loss reads these attributes of the trainer (trl 0.12), nothing else
    trainer = types.SimpleNamespace(accelerator=types.SimpleNamespace(device="cpu"), reference_free=False,
                                    f_divergence_type="reverse_kl", loss_type="sigmoid", beta=beta,
                                    label_smoothing=0.0, use_weighting=False)
    ref_losses, ref_chosen, ref_rejected = trl.DPOTrainer.dpo_loss(trainer, *logps)
    losses, chosen, rejected = dpo_loss(*logps, beta=beta)
    torch.testing.assert_close(losses, ref_losses)
    torch.testing.assert_close(chosen, ref_chosen)
    torch.testing.assert_close(rejected, ref_rejected)


def synthetic_pairs(model, tok, n, seed=0):
    """The chosen continuation says "good", the rejected one "bad"."""
    g = torch.Generator().manual_seed(seed)
    eot = model.cfg.eot_id
    good, bad = tok.encode(" good fun"), tok.encode(" bad plot")
    pairs = []
    for i in range(n):
        prompt = [eot] + torch.randint(5, 60, (2,), generator=g).tolist()
        a_good = bool(i % 2)
        a, b = (good, bad) if a_good else (bad, good)
        pairs.append(Pair("p", "a", "b", "a" if a_good else "b", prompt, a + [eot], b + [eot], 0.9 if a_good else 0.1))
    return pairs


def test_sequence_log_probabilities_are_sums_of_each_sequence_alone(tiny):
    model, tok = tiny
    pairs = synthetic_pairs(model, tok, 3)
    with torch.no_grad():
        chosen, rejected = sequence_logprobs(model, pairs, bf16=False)
        for i, p in enumerate(pairs):
            c, r = p.chosen_rejected()
            assert chosen[i].item() == pytest.approx(alone(model, p.prompt_ids, c, 1.0).sum().item(), abs=1e-4)
            assert rejected[i].item() == pytest.approx(alone(model, p.prompt_ids, r, 1.0).sum().item(), abs=1e-4)


def test_dpo_learns_the_preference_and_resumes_exactly(tiny_gpt_dir, tmp_path):
    model, tok, _ = checkpoint.load(tiny_gpt_dir)
    train, valid = synthetic_pairs(model, tok, 64), synthetic_pairs(model, tok, 16, seed=1)
    cfg = PairTraining(epochs=3, batch_size=16, lr=3e-3, warmup_steps=2)
    final = train_dpo(tiny_gpt_dir, train, valid, tmp_path / "a", cfg, beta=0.1, progress=False)
    assert final["valid_reward_accuracy"] == 1.0 and final["valid_loss"] < 0.5
    policy, _, meta = checkpoint.load(tmp_path / "a" / "model")
    assert meta["dpo"] == {"beta": 0.1}
    assert train_dpo(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, beta=0.1, progress=False, stop_after=5) is None
    with pytest.raises(ScratchMLError, match="beta 0.1"):
        train_dpo(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, beta=0.2, resume=True, progress=False)
    again = train_dpo(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, beta=0.1, resume=True, progress=False)
    assert again == {**final, "minutes": again["minutes"]}  # wall-clock time may differ
    resumed, _, _ = checkpoint.load(tmp_path / "b" / "model")
    for name, p in policy.state_dict().items():
        torch.testing.assert_close(p, resumed.state_dict()[name], rtol=0, atol=0)


def test_beta_must_be_positive(tiny_gpt_dir, tmp_path):
    with pytest.raises(ScratchMLError, match="beta must be positive"):
        train_dpo(tiny_gpt_dir, [], [], tmp_path, PairTraining(), beta=0)
