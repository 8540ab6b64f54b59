"""PPO for language models: the policy writes continuations, the reward model scores them, and a
KL penalty keeps the policy near π_ref (Ziegler et al. 2019, "Fine-Tuning Language Models from Human
Preferences"; Stiennon et al. 2020; the implementation details follow Huang et al. 2024, "The N+
Implementation Details of RLHF with PPO", and TRL's PPOTrainer).

One iteration:

1. **Rollout.** Sample a continuation of each of B prompts from the policy at temperature T, plainly
   (no top-k or top-p: the log-probabilities below must be those of the distribution sampled).
2. **Score.** The reward model reads prompt + continuation: one number per text, s.
3. **Rewards per token.** r_t = −β (log π(a_t) − log π_ref(a_t)), and the last token also gets s.
   Summed over a continuation the penalty is −β times the sampled estimate of KL(π ‖ π_ref).
4. **Advantages** by GAE (Schulman et al. 2016): δ_t = r_t + γ V(t+1) − V(t),
   A_t = δ_t + γλ A_{t+1}; returns R_t = A_t + V(t). Advantages are whitened over the batch (and
   the rewards too, optionally, by their standard deviation only).
5. **PPO epochs** over minibatches of the B rollouts, with ρ = π_new(a_t) / π_old(a_t):
   L_policy = mean max(−A ρ, −A clip(ρ, 1 − ε, 1 + ε))   (Schulman et al. 2017)
   L_value  = ½ mean max((V − R)², (V_clipped − R)²),  V_clipped = V_old + clip(V − V_old, ±ε_v)
   L = L_policy + c_v L_value.
6. **Adaptive KL** (Ziegler et al.): β ← β (1 + clip(KL / KL_target − 1, −0.2, 0.2) · B / horizon),
   so β grows while the policy runs past the target KL and shrinks while it stays under.

The value function is a linear head on the policy's own last hidden state, initialized to zero so
that it starts by predicting nothing rather than noise.

Shapes: B rollouts, R continuation tokens, C width.
"""

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import refuse_fresh_start
from scratchml.llm import GPT, checkpoint as gpt_checkpoint
from scratchml.rlhf.card import rlhf_card
from scratchml.rlhf.config import PPOConfig
from scratchml.rlhf.plots import plot_ppo
from scratchml.rlhf.reward import RewardModel
from scratchml.rlhf.rollout import Packed, entropy, response_logits, sample, token_logprobs
from scratchml.training import append_metrics, load_optimizer, optimizer_tensors, truncate_metrics
from scratchml.transformer.precision import autocast, use_bf16

log = logging.getLogger("scratchml.rlhf")


class PolicyWithValue(nn.Module):
    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt
        self.value = nn.Linear(gpt.cfg.d_model, 1)
        nn.init.zeros_(self.value.weight)
        nn.init.zeros_(self.value.bias)

    def forward(self, packed: Packed, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, R, V) that predicted each continuation token (divided by the temperature) and the
        values (B, R) of the states they were predicted from."""
        P = packed.prompt_length
        h = self.gpt.hidden(packed.ids, packed.mask)[:, P - 1:-1]  # (B, R, C)
        logits = self.gpt.logits(h).float() / temperature
        return logits, self.value(h).squeeze(-1).float()


class AdaptiveKL:
    """β of the KL penalty, steered towards a target KL (Ziegler et al. 2019, section 2.2)."""

    def __init__(self, coef: float, target: float, horizon: int, adaptive: bool = True):
        self.coef, self.target, self.horizon, self.adaptive = coef, target, horizon, adaptive

    def update(self, kl: float, n: int) -> None:
        if self.adaptive:
            error = float(np.clip(kl / self.target - 1, -0.2, 0.2))
            self.coef *= 1 + error * n / self.horizon


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns (B, R) by generalized advantage estimation; a continuation's value
    after its last token is 0 (the episode has ended)."""
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.size(0))
    for t in reversed(range(rewards.size(1))):
        next_value = values[:, t + 1] if t + 1 < rewards.size(1) else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, advantages + values


def per_token_rewards(score: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                      kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(rewards (B, R), KL per token (B, R)): the KL penalty everywhere, the score at the last token."""
    kl = (logp - ref_logp) * mask
    rewards = -kl_coef * kl
    last = (mask * torch.arange(mask.size(1))).argmax(-1)  # (B,) the last continuation token
    rewards[torch.arange(mask.size(0)), last] += score
    return rewards, kl


def ppo_losses(logits: torch.Tensor, values: torch.Tensor, packed: Packed, old_logp: torch.Tensor,
               old_values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
               cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped PPO objective of one minibatch, and its statistics."""
    mask = packed.response.float()
    logp = token_logprobs(logits, packed)
    ratio = torch.exp(logp - old_logp)
    pg = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - cfg.cliprange, 1 + cfg.cliprange))
    pg_loss = masked_mean(pg, mask)
    clipped = old_values + (values - old_values).clamp(-cfg.cliprange_value, cfg.cliprange_value)
    vf = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    vf_loss = masked_mean(vf, mask)
    stats = {"clipfrac": masked_mean(((ratio - 1).abs() > cfg.cliprange).float(), mask).item(),
             "approx_kl": masked_mean(0.5 * (logp - old_logp) ** 2, mask).item(),
             "policy_loss": pg_loss.item(), "value_loss": vf_loss.item()}
    return pg_loss + cfg.vf_coef * vf_loss, stats


class PPOTrainer:
    """``PPOTrainer(policy folder, reward model, training prompts, cfg, out)``; ``run()`` trains, resumable.
    ``commands``: the commands that made the reward model, then this one, for the model card."""

    def __init__(self, reference, reward_model: RewardModel, prompts: list[list[int]], cfg: PPOConfig, out,
                 resume: bool = False, commands: list[str] = (), bf16: bool | None = None,
                 judge=None, tokenizer: Tokenizer | None = None):
        cfg.check()
        if len(prompts) < cfg.batch_size:
            raise ScratchMLError(f"{len(prompts)} prompts: fewer than one batch of {cfg.batch_size}")
        self.cfg, self.out, self.prompts, self.rm = cfg, Path(out), prompts, reward_model.eval()
        self.judge = judge  # optional: texts -> P(positive), logged, never trained on
        self.bf16 = use_bf16("cpu", bf16)
        self.ref, self.tokenizer, ref_meta = gpt_checkpoint.load(reference)
        ckpt = self.out / "checkpoint"
        self.progress = {"iteration": 0, "elapsed": 0.0, "kl_coef": cfg.init_kl_coef}
        if resume:
            gpt, _, meta = gpt_checkpoint.load(ckpt)
            state = gpt_checkpoint.load_train_state(ckpt)
            free = ("iterations", "checkpoint_minutes")  # what a resumed run may change
            saved, now = dict(meta.get("ppo") or {}), asdict(cfg)
            changed = [k for k in now if k not in free and saved.get(k) != now[k]]
            if changed:
                raise ScratchMLError(f"{ckpt} was trained with " + ", ".join(f"{k}={saved.get(k)}" for k in changed)
                                     + ": resume with those")
            self.progress.update(meta["progress"])
            self.commands = meta.get("commands", []) + list(commands[-1:])
        else:
            refuse_fresh_start(ckpt, "resume it with --resume")
            gpt, _, _ = gpt_checkpoint.load(reference)
            state, self.commands = None, list(commands)
        self.ref_meta = ref_meta
        self.policy = PolicyWithValue(gpt)
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=cfg.lr, betas=(0.9, 0.95), eps=1e-5,
                                           weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        if state is not None:
            self.policy.value.load_state_dict({"weight": state["value.weight"], "bias": state["value.bias"]})
            load_optimizer(self.optimizer, state, prefix="opt.")
            self.generator.set_state(state["rng.sample"])
            torch.set_rng_state(state["rng.torch"])
            truncate_metrics(self.out / "metrics.csv", self.progress["iteration"])
        self.kl = AdaptiveKL(self.progress["kl_coef"], cfg.target_kl, cfg.horizon, cfg.adaptive_kl)

    def batch_prompts(self, iteration: int) -> list[list[int]]:
        """The prompts of an iteration: a fixed shuffle of the pool per pass, so a resume draws the same."""
        per_pass = len(self.prompts) // self.cfg.batch_size
        epoch, k = divmod(iteration, per_pass)
        order = np.random.default_rng(self.cfg.seed + epoch).permutation(len(self.prompts))
        return [self.prompts[i] for i in order[k * self.cfg.batch_size:(k + 1) * self.cfg.batch_size]]

    @torch.no_grad()
    def rollout(self, prompts: list[list[int]]) -> dict:
        cfg = self.cfg
        self.policy.eval()
        roll = sample(self.policy.gpt, self.tokenizer, prompts, cfg.max_new_tokens, cfg.temperature, self.generator)
        packed = roll.packed(self.ref.cfg.eot_id)
        mask = packed.response.float()
        with autocast(packed.ids.device, self.bf16):
            logits, values = self.policy(packed, cfg.temperature)
            ref_logits = response_logits(self.ref, packed, cfg.temperature)
        logp, ref_logp = token_logprobs(logits, packed), token_logprobs(ref_logits, packed)
        score = self.rm.score(prompts, roll.continuations)
        rewards, kl = per_token_rewards(score, logp, ref_logp, mask, self.kl.coef)
        if cfg.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
        advantages = masked_whiten(advantages, mask)
        stats = {"score": score.mean().item(), "kl": kl.sum(-1).mean().item(),
                 "entropy": entropy(logits, packed).item(), "length": mask.sum(-1).mean().item()}
        if self.judge is not None:
            stats["positive_rate"] = float(np.mean(self.judge(roll.texts) > 0.5))
        return {"packed": packed, "logp": logp, "values": values * mask, "advantages": advantages,
                "returns": returns, "stats": stats, "texts": roll.texts}

    def update(self, batch: dict) -> dict[str, float]:
        cfg = self.cfg
        self.policy.train()
        rng = np.random.default_rng(cfg.seed * 1_000_003 + self.progress["iteration"])
        sums: dict[str, float] = {}
        count = 0
        for _ in range(cfg.ppo_epochs):
            for rows in rng.permutation(cfg.batch_size).reshape(-1, cfg.minibatch_size):
                rows = torch.from_numpy(rows)
                p = batch["packed"]
                packed = Packed(p.ids[rows], p.mask[rows], p.response[rows], p.prompt_length)
                with autocast(packed.ids.device, self.bf16):
                    logits, values = self.policy(packed, cfg.temperature)
                loss, stats = ppo_losses(logits, values, packed, batch["logp"][rows], batch["values"][rows],
                                         batch["advantages"][rows], batch["returns"][rows], cfg)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_norm:
                    torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.clip_norm)
                self.optimizer.step()
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
        return {k: v / count for k, v in sums.items()}

    def save_checkpoint(self) -> None:
        self.progress["kl_coef"] = self.kl.coef
        state = {"value.weight": self.policy.value.weight.detach().clone(),
                 "value.bias": self.policy.value.bias.detach().clone(),
                 "rng.sample": self.generator.get_state(), "rng.torch": torch.get_rng_state(),
                 **optimizer_tensors(self.optimizer, prefix="opt.")}
        gpt_checkpoint.save(self.out / "checkpoint", self.policy.gpt, self.tokenizer, self.meta(), state)

    def meta(self) -> dict:
        return {"ppo": asdict(self.cfg), "progress": dict(self.progress), "commands": self.commands,
                "reference_commands": self.ref_meta.get("commands", [])}

    def run(self, progress: bool = True, stop_after: int = 0) -> dict:
        """Train to ``cfg.iterations`` (or stop after iteration ``stop_after``, resumable); returns the
        last iteration's statistics."""
        cfg, prog = self.cfg, self.progress
        self.out.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=cfg.iterations, initial=prog["iteration"], desc="ppo", unit="it", disable=not progress,
                   dynamic_ncols=True)
        start, last_save = time.perf_counter() - prog["elapsed"], time.perf_counter()
        row: dict = {}
        warned = False
        end = min(cfg.iterations, stop_after) if stop_after else cfg.iterations
        while prog["iteration"] < end:
            batch = self.rollout(self.batch_prompts(prog["iteration"]))
            stats = batch["stats"]
            if stats["kl"] < 0 and not warned:
                log.warning("the KL estimate is negative (%.3f nats): the samples did not come from the policy's "
                            "own distribution at temperature %g (top-k, top-p or another temperature?), or the "
                            "batch is too small for the estimate", stats["kl"], cfg.temperature)
                warned = True
            train_stats = self.update(batch)
            self.kl.update(stats["kl"], cfg.batch_size)
            prog["iteration"] += 1
            prog["elapsed"] = time.perf_counter() - start
            prog["kl_coef"] = self.kl.coef
            row = {"step": prog["iteration"], "minutes": round(prog["elapsed"] / 60, 2),
                   **{k: round(v, 5) for k, v in {**stats, **train_stats}.items()}, "kl_coef": round(self.kl.coef, 5)}
            append_metrics(self.out / "metrics.csv", row)
            bar.update(1)
            bar.set_postfix(score=f"{stats['score']:.2f}", kl=f"{stats['kl']:.2f}")
            if prog["iteration"] == end or time.perf_counter() - last_save > cfg.checkpoint_minutes * 60:
                self.save_checkpoint()
                last_save = time.perf_counter()
        bar.close()
        if row:
            plot_ppo(self.out / "metrics.csv", self.out / "training.png", cfg.target_kl if cfg.adaptive_kl else None)
        if prog["iteration"] >= cfg.iterations:
            meta = {**self.meta(), "metrics": row}
            gpt_checkpoint.save(self.out / "model", self.policy.gpt, self.tokenizer, meta, half=True,
                                extra_files={"README.md": rlhf_card("ppo", meta)})
        return row
