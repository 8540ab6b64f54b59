"""Settings of the translation service, as one dataclass shared by the app, the CLI and the workers."""

from dataclasses import asdict, dataclass, fields

from scratchml.errors import ScratchMLError


@dataclass(frozen=True)
class ServeConfig:
    max_chars: int = 1000          # characters per text
    max_texts: int = 32            # texts per request
    max_beam: int = 8
    default_beam: int = 4
    attention_max_chars: int = 300  # the heatmap sends layers*heads*T*S numbers: keep T and S small
    batching: bool = True          # False: every request is decoded on its own (the baseline)
    max_batch_texts: int = 64      # texts decoded together at most
    max_wait_ms: float = 5.0       # how long an idle worker waits for more requests to join a batch
    decode_chunk: int = 32         # a batch is decoded sorted by length, in chunks of at most this many texts
    queue_size: int = 64           # requests waiting at most; one more gets 503 + Retry-After
    timeout_s: float = 30.0        # per request, queueing included; then 504
    threads: int = 0               # torch intra-op threads per worker process (0: PyTorch's default)
    bf16: bool | None = None       # decode in bfloat16; None: where the hardware computes it natively

    def __post_init__(self):
        for f in ("max_chars", "max_texts", "max_beam", "default_beam", "attention_max_chars",
                  "max_batch_texts", "decode_chunk", "queue_size"):
            if getattr(self, f) < 1:
                raise ScratchMLError(f"{f} must be >= 1, got {getattr(self, f)}")
        if not 1 <= self.default_beam <= self.max_beam:
            raise ScratchMLError(f"default_beam={self.default_beam} is not within 1..max_beam={self.max_beam}")
        if self.max_wait_ms < 0 or self.timeout_s <= 0 or self.threads < 0:
            raise ScratchMLError("max_wait_ms and threads must be >= 0 and timeout_s > 0")

    @property
    def max_body_bytes(self) -> int:
        """The largest body a valid request can need: every character written as a 12-byte JSON
        surrogate-pair escape, plus room for the other fields. Larger bodies get 413 unread."""
        return self.max_texts * (self.max_chars * 12 + 8) + 1024

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ServeConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
