"""Reinforcement learning from human feedback on our GPT: a simulated annotator, preferences, a reward
model, PPO, DPO and best-of-n sampling."""
