"""The settings of the RLHF training runs (no torch here: the command line reads the defaults)."""

from dataclasses import dataclass

from scratchml.errors import ScratchMLError

ANNOTATOR_NOISE = 0.25  # the simulated annotator's Bradley-Terry temperature τ (annotator.py says why)


@dataclass(frozen=True)
class PairTraining:
    epochs: int = 2
    batch_size: int = 32          # pairs per step
    lr: float = 5e-5
    warmup_steps: int = 20
    weight_decay: float = 0.0
    dropout: float = 0.0          # on the trained model while it trains (the GPT was pre-trained without)
    clip_norm: float = 1.0
    seed: int = 0
    checkpoint_minutes: float = 5.0

    def check(self) -> None:
        if not 0 <= self.dropout < 1:
            raise ScratchMLError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("epochs", "batch_size", "lr"):
            if not getattr(self, name) > 0:
                raise ScratchMLError(f"{name} must be positive, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.clip_norm < 0:
            raise ScratchMLError("warmup_steps, weight_decay and clip_norm must not be negative")


# The reward model learns from one pass over the pairs at a higher rate, with dropout: on a validation
# split of the training pairs a second epoch only memorized them (docs/rlhf.md, the reward model).
REWARD_TRAINING = PairTraining(epochs=1, lr=1e-4, dropout=0.1)
DPO_TRAINING = PairTraining()


@dataclass(frozen=True)
class PPOConfig:
    iterations: int = 300
    batch_size: int = 64          # rollouts per iteration
    minibatch_size: int = 16
    ppo_epochs: int = 4
    lr: float = 1e-5
    init_kl_coef: float = 0.1
    target_kl: float = 6.0        # nats per continuation, that the adaptive coefficient steers towards
    adaptive_kl: bool = True      # False: the coefficient stays init_kl_coef
    horizon: int = 640            # B / horizon = 0.1: Ziegler et al.'s K_β, at most 2 % change per iteration
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    whiten_rewards: bool = False
    temperature: float = 1.0
    max_new_tokens: int = 48
    clip_norm: float = 1.0
    seed: int = 0
    checkpoint_minutes: float = 5.0

    def check(self) -> None:
        for name in ("iterations", "batch_size", "minibatch_size", "ppo_epochs", "lr", "horizon", "temperature",
                     "max_new_tokens", "cliprange", "cliprange_value"):
            if not getattr(self, name) > 0:
                raise ScratchMLError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.target_kl > 0:
            raise ScratchMLError(f"the KL target must be positive, got {self.target_kl}")
        if self.init_kl_coef < 0:
            raise ScratchMLError(f"the KL coefficient must not be negative, got {self.init_kl_coef}")
        if self.batch_size % self.minibatch_size:
            raise ScratchMLError(f"batch_size {self.batch_size} is not a multiple of minibatch_size "
                                 f"{self.minibatch_size}")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise ScratchMLError("gamma and lam must be in [0, 1]")
