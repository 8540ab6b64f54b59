"""Which sentences the decoding worker takes next: turns between requests.

A request is a ``Job``: its texts cut into pieces (sentences, as token ids) that are decoded in
calls of several pieces, possibly from several requests. The worker asks ``Turns.pick`` for the
next call; the rules:

- A call holds pieces of one (beam, max_length) group, at most ``decode_chunk`` of them, as evenly
  split as the waiting pieces allow (33 pieces: 17 + 16, not 32 + 1), and at most ``chunk_tokens``
  source tokens. So a long request is decoded in slices of bounded cost, and between two slices
  the worker picks again: nobody waits for the whole of someone else's long request.
- Short requests (at most ``short_tokens`` tokens) go first, in arrival order; then long ones,
  the one with the fewest tokens left first ("shortest remaining work first", which minimises the
  mean waiting time). A long request can wait while short ones keep coming: under such overload
  it is the long request that times out, not the many short ones.
- Short and long requests never share a call: every piece of a call runs until the call's last one
  is done, and a short sentence should not wait for a long one's last step.
"""

import math
import time
from concurrent.futures import Future
from dataclasses import dataclass, field


@dataclass(eq=False)
class Job:
    prepared: object  # translate.translator.Prepared: the texts cut into token pieces
    beam: int
    max_length: int | None
    future: Future
    enqueued: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.pieces: list[list[int]] = self.prepared.pieces
        self.tokens = sum(map(len, self.pieces))
        self.todo = sorted(range(len(self.pieces)), key=lambda i: len(self.pieces[i]))  # short pieces first
        self.outputs: list = [None] * len(self.pieces)
        self.started: float | None = None  # its first decoding call

    @property
    def left(self) -> int:
        """Source tokens still to decode."""
        return sum(len(self.pieces[i]) for i in self.todo)


@dataclass(frozen=True)
class Turns:
    decode_chunk: int
    max_batch_texts: int
    chunk_tokens: int
    short_tokens: int
    batching: bool = True

    def short(self, job: Job) -> bool:
        return job.tokens <= self.short_tokens

    def order(self, job: Job) -> tuple:
        return (0, 0, job.enqueued) if self.short(job) else (1, job.left, job.enqueued)

    def pick(self, jobs: list[Job]) -> list[tuple[Job, int]]:
        """The next call's (job, piece index) pairs: pieces of the first job in turn order, then whole
        jobs of its group and size class while they fit (without batching: the first job alone)."""
        order = sorted(jobs, key=self.order)
        first = order[0]
        kind = (first.beam, first.max_length, self.short(first))
        same = [j for j in order if (j.beam, j.max_length, self.short(j)) == kind] if self.batching else [first]
        n = min(sum(len(j.todo) for j in same), self.max_batch_texts)
        cap = math.ceil(n / math.ceil(n / self.decode_chunk))
        take = [(first, i) for i in first.todo[:cap]]
        while len(take) > 1 and sum(len(first.pieces[i]) for _, i in take) > self.chunk_tokens:
            take.pop()  # a long request: as many of its pieces as the token budget holds
        tokens = sum(len(first.pieces[i]) for _, i in take)
        for job in same[1:]:
            if len(take) + len(job.todo) <= cap and tokens + job.left <= self.chunk_tokens:
                take += [(job, i) for i in job.todo]
                tokens += job.left
        return take
