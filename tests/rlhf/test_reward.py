import pytest
import torch

from scratchml.errors import ScratchMLError
from scratchml.llm import checkpoint
from scratchml.rlhf import reward
from scratchml.rlhf.config import PairTraining
from scratchml.rlhf.reward import RewardModel, bradley_terry_loss
from scratchml.rlhf.reward_training import train_reward_model
from scratchml.rlhf.rollout import pack
from tests.rlhf.test_dpo import synthetic_pairs


def test_the_reward_is_read_at_each_rows_last_token(tiny):
    model, _ = tiny
    torch.manual_seed(0)
    rm = RewardModel(model).eval()
    eot = model.cfg.eot_id
    prompts, continuations = [[eot, 5, 6, 7], [eot, 9]], [[20], [21, 22, 23, eot]]
    packed = pack(prompts, continuations, eot)
    with torch.no_grad():
        batch = rm.raw(packed.ids, packed.mask)
        for row, (p, c) in enumerate(zip(prompts, continuations)):
            h = model.hidden(torch.tensor([p + c]))[0, -1]  # alone, unpadded: its last position
            assert batch[row].item() == pytest.approx(rm.head(h).item(), abs=1e-5)


def test_bradley_terry_loss():
    chosen, rejected = torch.tensor([2.0, 0.0, -50.0]), torch.tensor([0.0, 0.0, 50.0])
    expected = torch.tensor([torch.log1p(torch.exp(torch.tensor(-2.0))), torch.log(torch.tensor(2.0)), 100.0]).mean()
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.1])  # with dropout, a resumed run draws the same masks
def test_training_learns_the_preference_normalizes_and_resumes(tiny_gpt_dir, tmp_path, dropout):
    model, tok, _ = checkpoint.load(tiny_gpt_dir)
    train, valid = synthetic_pairs(model, tok, 64), synthetic_pairs(model, tok, 16, seed=1)
    cfg = PairTraining(epochs=2, batch_size=16, lr=3e-3, warmup_steps=2, dropout=dropout)
    final = train_reward_model(tiny_gpt_dir, train, valid, tmp_path / "a", cfg, progress=False)
    assert final["valid_accuracy"] == 1.0 and final["valid_accuracy_likelier"] == 1.0
    rm, _, meta = reward.load(tmp_path / "a" / "model")
    scores = rm.score([p.prompt_ids for p in train] * 2, [p.a_ids for p in train] + [p.b_ids for p in train])
    assert scores.mean().item() == pytest.approx(0, abs=1e-4) and scores.std().item() == pytest.approx(1, abs=1e-3)
    assert train_reward_model(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, progress=False, stop_after=3) is None
    with pytest.raises(ScratchMLError, match="--resume"):
        train_reward_model(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, progress=False)
    resumed = train_reward_model(tiny_gpt_dir, train, valid, tmp_path / "b", cfg, resume=True, progress=False)
    assert resumed == {**final, "minutes": resumed["minutes"]}  # wall-clock time is the one thing that may differ
    again, _, _ = reward.load(tmp_path / "b" / "model")
    for name, p in rm.state_dict().items():
        torch.testing.assert_close(p, again.state_dict()[name], rtol=0, atol=0)


def test_a_folder_that_is_not_a_reward_model_is_a_clear_error(tiny_gpt_dir, tmp_path):
    with pytest.raises(ScratchMLError, match="not a reward model folder"):
        reward.load(tiny_gpt_dir)
    with pytest.raises(ScratchMLError, match="not a reward model folder"):
        reward.load(tmp_path)
