"""Reinforcement learning from human feedback on our GPT: a simulated annotator, preferences, a reward
model, PPO, DPO and best-of-n sampling."""

from scratchml.rlhf.judgments import MAX_ANNOTATOR, JudgmentStore

__all__ = ["MAX_ANNOTATOR", "JudgmentStore"]
