"""Model and training configurations of the translator, as dataclasses."""

from dataclasses import asdict, dataclass, fields

from scratchml.errors import ScratchMLError


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int = 10_000   # shared English+Spanish byte-level BPE vocabulary
    d_model: int = 256         # width of the residual stream
    n_heads: int = 4
    n_encoder_layers: int = 3
    n_decoder_layers: int = 3
    d_ff: int = 1024           # hidden width of the position-wise feed-forward network
    dropout: float = 0.1             # on embeddings and on each sub-layer's output (residual dropout)
    attention_dropout: float = 0.0   # on attention weights (off: costly on CPU, little gain here)
    max_len: int = 256         # longest sequence (tokens) the positional table covers
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self):
        for f in fields(self):                              # a config.json may hold anything
            value, kind = getattr(self, f.name), type(f.default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                object.__setattr__(self, f.name, value)             # frozen: set it the long way
            if type(value) is not kind:
                raise ScratchMLError(f"model config {f.name}={value!r} must be of type {kind.__name__}")
        sizes = ("vocab_size", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "d_ff")
        for name in sizes:
            if getattr(self, name) < 1:
                raise ScratchMLError(f"model config {name}={getattr(self, name)} must be at least 1")
        if self.max_len < 2:  # a source needs at least one token besides <eos>
            raise ScratchMLError(f"model config max_len={self.max_len} must be at least 2")
        if not (0 <= self.dropout < 1 and 0 <= self.attention_dropout < 1):
            raise ScratchMLError("model config dropouts must be in [0, 1)")
        if not all(0 <= i < self.vocab_size for i in (self.pad_id, self.bos_id, self.eos_id)):
            raise ScratchMLError(f"model config special token ids must be below vocab_size={self.vocab_size}")
        if self.d_model % self.n_heads:
            raise ScratchMLError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TransformerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ScratchMLError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)


# tiny: unit tests. small: the CPU default. medium: the largest that fits 25 MB in float16 (11.9 M
# parameters, ~1.3x small's cost per token). base: Vaswani et al. (2017), Table 3 "base".
PRESETS: dict[str, dict] = {
    "tiny": dict(d_model=32, n_heads=2, n_encoder_layers=2, n_decoder_layers=2, d_ff=64, max_len=64),
    "small": dict(d_model=256, n_heads=4, n_encoder_layers=4, n_decoder_layers=3, d_ff=1024),
    "medium": dict(d_model=320, n_heads=5, n_encoder_layers=4, n_decoder_layers=3, d_ff=1024),
    "base": dict(d_model=512, n_heads=8, n_encoder_layers=6, n_decoder_layers=6, d_ff=2048),
}


def preset(name: str, **overrides) -> TransformerConfig:
    if name not in PRESETS:
        raise ScratchMLError(f"unknown model size {name!r}; choose one of {', '.join(PRESETS)}")
    return TransformerConfig(**{**PRESETS[name], **overrides})


CORPORA = ("tatoeba", "tatoeba+news")
FIRST_WORD = ("as-written", "inline")


@dataclass
class TrainConfig:
    size: str = "small"              # model preset: tiny | small | medium | base
    vocab_size: int = 10_000
    max_tokens: int = 4000           # padded tokens per side in one global batch
    lr: float = 1e-3                 # peak learning rate, reached after warmup_steps
    warmup_steps: int = 400
    label_smoothing: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    ema_decay: float = 0.999         # moving average of the weights, ~1/(1-d) steps (0: off)
    dropout: float = 0.1
    minutes: float = 80.0            # wall-clock training budget, data preparation excluded (0: none)
    max_epochs: int = 1000
    max_steps: int = 0               # stop after this many optimizer steps (0: no limit)
    cooldown_steps: int = 0          # decay lr linearly to 0 over the last N of max_steps (0: off)
    max_sentence_tokens: int = 100   # longer training pairs are skipped
    name_swap: float = 0.0           # add copies of this fraction of the pairs sharing a name, renamed (names.py)
    typed_copies: float = 0.0        # add copies of this fraction of the short pairs, English typed (typed.py)
    corpus: str = "tatoeba"          # training data: tatoeba (spa.txt) | tatoeba+news (and News Commentary)
    tatoeba_copies: int = 1          # times each Tatoeba training pair appears in an epoch
    phrase_copies: int = 0           # extra times each Tatoeba pair of a few words appears (corpus.py)
    first_word: str = "as-written"   # the English first word as-written | inline (first_word.py)
    bf16: bool | None = None         # bfloat16 autocast; None: where the hardware computes it natively
    seed: int = 0
    checkpoint_minutes: float = 10.0
    valid_bleu_sentences: int = 500
    train_limit: int = 0             # use only N training pairs, spread over the corpus (0: all); quick tests

    def __post_init__(self):
        if self.cooldown_steps < 0:
            raise ScratchMLError(f"cooldown_steps must be 0 or more, got {self.cooldown_steps}")
        if self.cooldown_steps > self.max_steps:
            raise ScratchMLError(f"cooldown_steps={self.cooldown_steps} needs max_steps of at least as many "
                                 f"(got {self.max_steps}): the cooldown ends at the last step")
        if self.corpus not in CORPORA:
            raise ScratchMLError(f"unknown corpus {self.corpus!r}; choose one of {', '.join(CORPORA)}")
        if self.tatoeba_copies < 1:
            raise ScratchMLError(f"tatoeba_copies must be at least 1, got {self.tatoeba_copies}")
        if self.first_word not in FIRST_WORD:
            raise ScratchMLError(f"unknown first_word {self.first_word!r}; choose one of {', '.join(FIRST_WORD)}")
        if self.phrase_copies < 0:
            raise ScratchMLError(f"phrase_copies must be 0 or more, got {self.phrase_copies}")
        for f in ("name_swap", "typed_copies"):
            if not 0 <= getattr(self, f) <= 1:
                raise ScratchMLError(f"{f} is a fraction of the pairs, within 0..1; got {getattr(self, f)}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})
