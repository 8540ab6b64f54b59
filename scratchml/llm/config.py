"""The settings of a GPT training run (no torch here: the command line reads the defaults)."""

from dataclasses import dataclass

from scratchml.errors import ScratchMLError


@dataclass(frozen=True)
class TrainConfig:
    vocab_size: int = 8192    # see docs/llm.md: bytes per token against the cost of the output layer
    context: int = 256
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 6
    dropout: float = 0.0
    batch_size: int = 32      # windows per step: 8,192 tokens at context 256
    max_steps: int = 2800      # about 1 epoch of the 24 M training tokens
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # the cosine ends at lr x this
    beta2: float = 0.95       # AdamW's second-moment decay
    warmup_steps: int = 200
    weight_decay: float = 0.1
    clip_norm: float = 1.0
    valid_fraction: float = 0.01
    eval_every: int = 500
    seed: int = 0
    train_limit: int = 0      # only the first N reviews of each split (0: all)
    minutes: float = 0.0      # stop early after this long (0: no limit); the schedule still spans max_steps
    checkpoint_minutes: float = 10.0
    bf16: bool | None = None  # None: where the hardware computes it natively

    def check(self) -> None:
        positive = ("context", "d_model", "n_layers", "n_heads", "batch_size", "max_steps", "eval_every", "lr")
        problems = [f"{name} must be positive, got {getattr(self, name)}"
                    for name in positive if getattr(self, name) <= 0]
        problems += [text for bad, text in [
            (self.vocab_size < 258, "vocab_size must be at least 258 (the 256 bytes, a merge and end-of-text)"),
            (self.n_heads > 0 and self.d_model % self.n_heads != 0,
             f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}"),
            (not 0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
            (not 0 <= self.beta2 < 1, f"beta2 must be in [0, 1), got {self.beta2}"),
            (not 0 <= self.min_lr_ratio <= 1, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}"),
            (not 0 < self.valid_fraction < 1, "valid_fraction must be in (0, 1)"),
            (self.warmup_steps < 0 or self.minutes < 0 or self.train_limit < 0,
             "warmup_steps, minutes and train_limit must not be negative"),
        ] if bad]
        if problems:
            raise ScratchMLError("; ".join(problems))
