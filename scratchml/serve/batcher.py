"""Dynamic batching: one worker thread decodes the requests that arrive together as one batch.

Decoding a batch of B sentences costs far less than B times one sentence: each decoder step is a
few small matrix products whose cost is dominated by fixed overhead (Python, kernel launches,
memory traffic of the weights), and a batch shares it. So the worker takes the oldest waiting
request, then gathers whatever else is already queued — waiting at most ``max_wait_ms`` for
more when the queue runs dry — up to ``max_batch_texts`` texts, and decodes them in one
``translate`` call per (beam, max_length) group. Under load the queue refills while a batch is
decoded, so batches grow with the load and the window costs latency only when the server is idle.
This is the scheme of serving systems such as NVIDIA Triton's dynamic batcher and TF Serving.

On a CPU a decoding step of many rows is not free, and padding costs as much as real tokens, so
the translator decodes the batch sorted by length in even chunks of at most ``decode_chunk`` texts:
short sources are not padded to the longest one of the batch (and a sentence that is done leaves
its chunk at once, see translate/decode.py).

The queue is bounded: a full queue rejects the request at once (the app answers 503 with
``Retry-After``) instead of letting memory and latency grow without limit. A request whose caller
gave up (timeout) is dropped when the worker reaches it, so it costs no decoding.

All model calls happen on this one thread: the model is never used by two threads at once, and
calls that change its state (recording attention weights) go through ``call``.
"""

import logging
import math
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

log = logging.getLogger("scratchml.serve")


class QueueFull(Exception):
    """The request queue is full, or the worker is not running."""


@dataclass
class Result:
    translations: list[str]
    queue_ms: float      # waiting before its batch started
    decode_ms: float     # decoding the batch it was part of
    batch_requests: int  # requests decoded together with it (itself included)
    batch_texts: int


@dataclass
class _Job:
    texts: list[str]
    beam: int
    max_length: int | None
    future: Future
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class _Call:
    fn: object  # fn(translator) -> anything, run alone on the worker thread
    future: Future


_STOP = object()


class Batcher:
    def __init__(self, translator, max_batch_texts: int = 64, max_wait_ms: float = 5.0,
                 queue_size: int = 64, batching: bool = True, decode_chunk: int = 32):
        self.translator = translator
        self.decode_chunk = decode_chunk
        self.max_batch_texts = max_batch_texts if batching else 1
        self.max_wait = max_wait_ms / 1000 if batching else 0.0
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.batches = self.requests = self.texts = 0  # counters, written by the worker only
        self.decode_seconds = 0.0
        self._thread: threading.Thread | None = None
        self._carry = None  # an item taken while filling a batch that belongs to the next round

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if not self.running:
            self._thread = threading.Thread(target=self._loop, name="scratchml-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish every queued request, then end the worker."""
        if self.running:
            self.queue.put(_STOP)  # blocks while the queue is full: the worker is draining it
            self._thread.join(timeout)

    def drain_seconds(self) -> float:
        """A guess of how long the queued requests will take, from the mean decoding time so far."""
        return self.queue.qsize() * self.decode_seconds / max(self.requests, 1)

    def submit(self, texts: list[str], beam: int, max_length: int | None = None) -> Future:
        """Queue texts for translation; the future's result is a ``Result``. Raises QueueFull."""
        return self._put(_Job(list(texts), beam, max_length, Future()))

    def call(self, fn) -> Future:
        """Run ``fn(translator)`` on the worker thread, between batches. Raises QueueFull."""
        return self._put(_Call(fn, Future()))

    def _put(self, item):
        if not self.running:
            raise QueueFull("the translation worker is not running")
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            raise QueueFull(f"{self.queue.maxsize} requests are already waiting") from None
        return item.future

    # ---- the worker thread ----------------------------------------------------------------

    def _next(self, timeout: float | None = None):
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        return self.queue.get(timeout=timeout) if timeout is not None else self.queue.get()

    def _loop(self) -> None:
        while True:
            item = self._next()
            if item is _STOP:
                return
            if isinstance(item, _Call):
                self._run_call(item)
                continue
            self._run_batch(self._gather(item))

    def _gather(self, first: _Job) -> list[_Job]:
        """``first`` plus the jobs that are queued or arrive within the window, up to the size cap."""
        batch, n = [first], len(first.texts)
        deadline = time.perf_counter() + self.max_wait
        while n < self.max_batch_texts:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    item = self.queue.get(timeout=left)
                except queue.Empty:
                    break
            if not isinstance(item, _Job) or n + len(item.texts) > self.max_batch_texts:
                self._carry = item  # a stop, a call, or a job too big for this batch: next round
                break
            batch.append(item)
            n += len(item.texts)
        return batch

    def _run_call(self, item: _Call) -> None:
        if not item.future.set_running_or_notify_cancel():
            return
        try:
            item.future.set_result(item.fn(self.translator))
        except Exception as e:  # the caller sees it; the worker lives on
            item.future.set_exception(e)

    def _run_batch(self, batch: list[_Job]) -> None:
        # Jobs whose caller already gave up (cancelled on timeout) are skipped here.
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        groups: dict[tuple, list[_Job]] = {}
        for job in live:
            groups.setdefault((job.beam, job.max_length), []).append(job)
        for (beam, max_length), jobs in groups.items():
            texts = [t for job in jobs for t in job.texts]
            chunk = math.ceil(len(texts) / math.ceil(len(texts) / self.decode_chunk))  # 17 -> 9 + 8, not 16 + 1
            start = time.perf_counter()
            try:
                out = self.translator.translate(texts, beam=beam, max_length=max_length, batch_size=chunk)
            except Exception as e:
                log.exception("decoding a batch of %d texts failed", len(texts))
                for job in jobs:
                    job.future.set_exception(e)
                continue
            end = time.perf_counter()
            self.batches += 1
            self.requests += len(jobs)
            self.texts += len(texts)
            self.decode_seconds += end - start
            i = 0
            for job in jobs:
                k = len(job.texts)
                job.future.set_result(Result(out[i:i + k], (start - job.enqueued) * 1000, (end - start) * 1000,
                                             len(jobs), len(texts)))
                i += k
