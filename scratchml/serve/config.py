"""Settings of the translation service, as one dataclass shared by the app, the CLI and the workers.

Input limits are in tokens (the model's BPE tokens, about 4 characters of English each) because
decoding costs grow with tokens, not characters: 1,000 characters of Chinese are 3,000 tokens, of
English about 250. The character limit only keeps huge bodies from being read at all.
"""

from dataclasses import asdict, dataclass, fields

from scratchml.errors import ScratchMLError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeConfig:
    max_chars: int = 1000          # characters per text: a cheap first guard, checked before tokenizing
    max_texts: int = 32            # texts per request
    max_text_tokens: int = 512     # source tokens per text, after BPE; more gets 413
    max_request_tokens: int = 2048  # source tokens per request, all texts together; more gets 413
    max_beam: int = 8
    default_beam: int = 4
    attention_max_chars: int = 300  # the heatmap sends layers*heads*T*S numbers: keep T and S small
    attention_max_tokens: int = 100
    batching: bool = True          # False: every request is decoded on its own (the baseline)
    max_batch_texts: int = 64      # sentences decoded together at most
    max_wait_ms: float = 5.0       # how long an idle worker waits for more requests to join a batch
    decode_chunk: int = 32         # sentences per decoding call, sorted by length
    chunk_tokens: int = 1024       # source tokens per decoding call: long requests take turns in such slices
    short_tokens: int = 128        # a request of at most this many tokens may cut into a longer decode
    queue_size: int = 64           # requests accepted and not yet answered; one more gets 503 + Retry-After
    timeout_s: float = 30.0        # per request, queueing included; then 504 and its decoding stops
    body_timeout_s: float = 10.0   # the body must have arrived this long after the request's head; then 408
    idle_timeout_s: float = 5.0    # a connection must send a complete request head this long after it opens
    #                                or after its last reply; then it is closed
    max_connections: int = 1000    # open connections at most, per worker process; one more gets 503
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host header values served ("*": any); others get 421
    threads: int = 0               # torch intra-op threads per worker process (0: PyTorch's default)
    bf16: bool | None = None       # decode in bfloat16; None: where the hardware computes it natively
    knn: bool = False              # kNN-MT over the model's datastore, a translation memory, /v1/neighbours
    datastore: str | None = None   # the datastore folder (None: the model's cached one)
    memory_max_pairs: int = 100    # pairs per /v1/memory request

    def __post_init__(self):
        given = self.allowed_hosts.split(",") if isinstance(self.allowed_hosts, str) else self.allowed_hosts
        hosts = tuple(h.strip().strip("[]").lower() for h in given if h.strip())
        object.__setattr__(self, "allowed_hosts", hosts)  # "[::1]" and "::1" alike
        for f in ("max_chars", "max_texts", "max_text_tokens", "max_request_tokens", "max_beam", "default_beam",
                  "attention_max_chars", "attention_max_tokens", "max_batch_texts", "decode_chunk",
                  "chunk_tokens", "short_tokens", "queue_size", "max_connections", "memory_max_pairs"):
            if getattr(self, f) < 1:
                raise ScratchMLError(f"{f} must be >= 1, got {getattr(self, f)}")
        if not 1 <= self.default_beam <= self.max_beam:
            raise ScratchMLError(f"default_beam={self.default_beam} is not within 1..max_beam={self.max_beam}")
        if self.max_wait_ms < 0 or self.threads < 0:
            raise ScratchMLError("max_wait_ms and threads must be >= 0")
        for f in ("timeout_s", "body_timeout_s", "idle_timeout_s"):
            if not getattr(self, f) > 0:
                raise ScratchMLError(f"{f} must be > 0, got {getattr(self, f)}")
        if not self.allowed_hosts:
            raise ScratchMLError('allowed_hosts is empty: list the host names clients use, or "*" for any')

    @property
    def max_body_bytes(self) -> int:
        """The largest body a valid request can need: every character written as a 12-byte JSON
        surrogate-pair escape, plus room for the other fields. Larger bodies get 413 unread."""
        return self.max_texts * (self.max_chars * 12 + 8) + 1024

    @property
    def shutdown_s(self) -> float:
        """How long a stop signal may take at most: requests in flight end within their timeout
        (answered or 504), then the worker gets the rest of the 5 s to stop."""
        return self.timeout_s + 5

    def with_host(self, host: str) -> "ServeConfig":
        """The same settings, also serving the address the server binds to (unless a wildcard)."""
        host = host.strip("[]").lower()
        if host in ("0.0.0.0", "::", "") or host in self.allowed_hosts:
            return self
        return ServeConfig.from_dict({**self.to_dict(), "allowed_hosts": (*self.allowed_hosts, host)})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ServeConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if k == "allowed_hosts" else v for k, v in d.items() if k in known})
