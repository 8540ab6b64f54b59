"""Dynamic batching with fair turns: one worker thread decodes every request, several at a time.

Batching. Decoding B sentences together costs far less than B times one: a decoder step is a few
small matrix products dominated by fixed overhead (Python, kernel launches, reading the weights),
which a batch shares. So the worker decodes the sentences of the requests it holds together, in
calls of at most ``decode_chunk`` sentences; an idle worker waits ``max_wait_ms`` for more to join,
and under load calls grow with the load (the scheme of Triton's and TF Serving's batchers).

Turns. One request must not hold the thread for long: a long request is decoded in several calls
of at most ``chunk_tokens`` source tokens, and between calls the worker picks again, short requests
first (schedule.py).

Cutting in. A call of long work still takes seconds. The decoder asks ``should_stop`` between two
of its steps (translate/decode.py); the worker uses that moment to decode the short requests that
arrived meanwhile, right there, then lets the long call go on where it was: its state (the KV
cache) waits on the stack. A short request thus waits one decoding step for long work, not a whole
call. There is one level only: a short call is not interrupted in turn.

Cancelling. A request whose client gave up (the app's timeout) is cancelled: its sentences still
waiting are dropped, and a call whose requests have all given up stops at its next step
(``DecodingCancelled``). A call shared with a request still waiting runs on, for that request.

Bounds. At most ``queue_size`` requests are accepted and unanswered, long ones at most half of
them; one more is refused at once (the app answers 503 with ``Retry-After``) instead of latency and
memory growing without limit, and short requests always find a place. ``stop`` finishes what was
accepted for a bounded time, then cancels the call in progress.

All model calls happen on this one thread, so the model is never used by two threads at once;
calls that change its state (recording attention weights) go through ``call``.
"""

import collections
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from scratchml.serve.turns import Job, Turns
from scratchml.translate.decode import DecodingCancelled

log = logging.getLogger("scratchml.serve")


class QueueFull(Exception):
    """The server holds ``queue_size`` requests already, or the worker is not running."""


class ShuttingDown(QueueFull):
    """The worker stopped before this request was done."""


@dataclass
class Result:
    translations: list[str]
    queue_ms: float      # waiting before its first decoding call
    decode_ms: float     # from its first decoding call to its last (other requests' turns included)
    batch_requests: int  # requests in the call that finished it (itself included)
    batch_texts: int     # sentences in that call


@dataclass(eq=False)
class _Call:
    fn: object  # fn(translator) -> anything, run alone on the worker thread
    future: Future


_STOP = object()


class Batcher:
    def __init__(self, translator, max_batch_texts: int = 64, max_wait_ms: float = 5.0, queue_size: int = 64,
                 batching: bool = True, decode_chunk: int = 32, chunk_tokens: int = 1024, short_tokens: int = 128):
        self.translator = translator
        self.batching, self.max_batch_texts, self.queue_size = batching, max_batch_texts, queue_size
        self.max_wait = max_wait_ms / 1000 if batching else 0.0
        self.turns = Turns(min(decode_chunk, max_batch_texts), max_batch_texts, chunk_tokens, short_tokens, batching)
        self.batches = self.requests = self.texts = self.sentences = 0  # counters, written by the worker only
        self.decode_seconds = 0.0
        self.busy_since: float | None = None  # when the decoding call in progress started
        self.last_step: float | None = None   # when it last made progress (a decoding step), while busy
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._accepted = 0     # requests accepted and not yet answered (guarded by _lock)
        self._long = 0         # of which long ones (guarded by _lock)
        self._refusing = False  # submissions are refused from now on (guarded by _lock)
        self._abort = threading.Event()
        self._jobs: list[Job] = []  # the worker's own: accepted jobs with sentences left
        self._calls: collections.deque = collections.deque()
        self._draining = False  # the worker got _STOP: it finishes what it holds, then ends
        self._nested = False    # a short call is running inside a long one's should_stop
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def accepted(self) -> int:  # requests accepted and not answered yet, the one decoding included
        return self._accepted

    def start(self) -> None:
        if not self.running:
            self._thread = threading.Thread(target=self._loop, name="scratchml-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0, grace: float = 1.0) -> bool:
        """Finish what was accepted for at most ``timeout`` seconds; then cancel the decoding call in
        progress at its next step and fail what is left with ``ShuttingDown``, waiting ``grace``
        seconds more for the worker. Returns whether the worker ended."""
        with self._lock:
            self._refusing = True
        if self.running:
            self._inbox.put(_STOP)
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abort.set()
                self._thread.join(grace)
        return not self.running

    def stalled_seconds(self) -> float:
        """How long the call in progress has gone without a decoding step (0 when idle). Steps take
        milliseconds, so seconds mean the worker is stuck, however long the call itself runs."""
        last = self.last_step
        return time.perf_counter() - last if last is not None else 0.0

    def drain_seconds(self) -> float:
        """A guess of how long the accepted requests will take, from the mean decoding time so far."""
        return self._accepted * self.decode_seconds / max(self.requests, 1)

    def submit(self, prepared, beam: int, max_length: int | None = None) -> Future:
        """Queue prepared texts (``Translator.prepare``); the future's result is a ``Result``.
        Cancelling the future stops its decoding. Raises QueueFull."""
        return self._put(Job(prepared, beam, max_length, Future()))

    def call(self, fn) -> Future:
        """Run ``fn(translator)`` on the worker thread, between decoding calls. Raises QueueFull."""
        return self._put(_Call(fn, Future()))

    def _put(self, item):
        long = isinstance(item, Job) and not self.turns.short(item)
        with self._lock:
            if self._refusing or not self.running:
                raise QueueFull("the translation worker is not running")
            if self._accepted >= self.queue_size:
                raise QueueFull(f"{self.queue_size} requests are already waiting")
            if long and self._long >= max(1, self.queue_size // 2):  # short requests always find a place
                raise QueueFull(f"{self._long} long requests are already waiting")
            self._accepted += 1
            self._long += long
            self._inbox.put(item)
        return item.future

    def _release(self, item) -> None:
        with self._lock:
            self._accepted -= 1
            self._long -= isinstance(item, Job) and not self.turns.short(item)

    # ---- the worker thread ----------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not (self._draining and not self._jobs and not self._calls):
                self._admit(wait=not self._jobs and not self._calls)
                while self._calls and not self._abort.is_set():
                    self._run_call(self._calls.popleft())
                if self._abort.is_set():
                    break
                if self._jobs:
                    self._run_chunk(self.turns.pick(self._jobs), preemptible=self.batching)
        except DecodingCancelled:
            pass  # stop() ran out of time
        except Exception:  # a bug: said in the service log, and every waiting request is answered
            log.exception("the translation worker failed; it takes no more requests")
        finally:
            self._fail_all(ShuttingDown("the server is shutting down"))

    def _admit(self, wait: bool) -> None:
        """Move what the inbox holds to the worker's lists. ``wait``: the worker is idle, so block
        for the next item, then give others ``max_wait`` to join it (the batching window)."""
        deadline = 0.0
        if wait and not self._draining:
            self._take(self._inbox.get())
            deadline = time.perf_counter() + self.max_wait
        while True:  # within the window (while there is room) wait for more; then take what is there
            room = not self._draining and sum(len(j.todo) for j in self._jobs) < self.max_batch_texts
            left = deadline - time.perf_counter() if room else 0.0
            try:
                self._take(self._inbox.get(timeout=left) if left > 0 else self._inbox.get_nowait())
            except queue.Empty:
                break
        for job in [j for j in self._jobs if j.future.cancelled()]:  # their clients gave up
            self._drop(job)

    def _drop(self, job: Job) -> bool:
        """Forget a job (done, failed or given up) and free its place; False if it was gone already."""
        if job not in self._jobs:
            return False
        self._jobs.remove(job)
        self._release(job)
        return True

    def _take(self, item) -> None:
        if item is _STOP:
            self._draining = True
        elif isinstance(item, _Call):
            self._calls.append(item)
        elif item.pieces:
            self._jobs.append(item)
        else:  # nothing to decode (empty texts)
            self._release(item)
            self._finish(item, time.perf_counter(), 0, 0)

    def _between_steps(self, jobs: list[Job], long: bool) -> bool:
        """``should_stop`` of a decoding call: first let waiting short requests cut in (long calls
        only), then say whether to stop: the server is stopping, or every request has given up."""
        self.last_step = time.perf_counter()
        if long and not self._nested and not self._inbox.empty():
            self._admit(wait=False)
            self._nested = True
            try:
                while not self._abort.is_set():
                    short = [j for j in self._jobs if self.turns.short(j) and not j.future.cancelled()]
                    if not short:
                        break
                    self._run_chunk(self.turns.pick(short), preemptible=False)
                    self._admit(wait=False)
            finally:
                self._nested = False
        return self._abort.is_set() or all(job.future.cancelled() for job in jobs)

    def _run_chunk(self, take: list[tuple[Job, int]], preemptible: bool) -> None:
        jobs = list(dict.fromkeys(job for job, _ in take))
        first = jobs[0]
        pieces = [job.pieces[i] for job, i in take]
        start = time.perf_counter()
        for job in jobs:
            job.started = job.started or start
        if not self._nested:
            self.busy_since = self.last_step = start
        long = preemptible and not self.turns.short(first)
        try:
            out = self.translator.translate_ids(pieces, beam=first.beam, max_length=first.max_length,
                                                batch_size=len(pieces),
                                                should_stop=lambda: self._between_steps(jobs, long))
        except DecodingCancelled:
            if self._abort.is_set():
                raise
            return  # every request of this call gave up; _admit drops them
        except Exception as e:
            log.exception("decoding %d sentences failed", len(pieces))
            for job in jobs:
                if self._drop(job) and job.future.set_running_or_notify_cancel():
                    job.future.set_exception(e)
            return
        finally:
            if not self._nested:
                self.busy_since = self.last_step = None
        end = time.perf_counter()
        self.batches += 1
        self.sentences += len(pieces)
        if not self._nested:  # a call cut into by short ones counts their time already
            self.decode_seconds += end - start
        for (job, i), ids in zip(take, out):
            job.outputs[i] = ids
            job.todo.remove(i)
        for job in jobs:
            if not job.todo and self._drop(job):
                self._finish(job, end, len(jobs), len(pieces))

    def _finish(self, job: Job, end: float, requests: int, sentences: int) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            texts = self.translator.finish(job.prepared, job.outputs)
        except Exception as e:
            log.exception("assembling a translation failed")
            job.future.set_exception(e)
            return
        started = job.started or end
        job.future.set_result(Result(texts, (started - job.enqueued) * 1000, (end - started) * 1000,
                                     requests, sentences))
        self.requests += 1
        self.texts += len(texts)

    def _run_call(self, item: _Call) -> None:
        if item.future.set_running_or_notify_cancel():
            self.busy_since = self.last_step = time.perf_counter()
            try:
                item.future.set_result(item.fn(self.translator))
            except Exception as e:  # the caller sees it; the worker lives on
                item.future.set_exception(e)
            finally:
                self.busy_since = self.last_step = None
        self._release(item)

    def _fail_all(self, error: Exception) -> None:
        """At the worker's end: everything it still holds, or that is still in the inbox, fails."""
        with self._lock:  # first refuse new submissions, so none lands in an inbox nobody reads
            self._refusing = True
        items = [*self._jobs, *self._calls]
        self._jobs, self._calls = [], collections.deque()
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for item in items:
            if item is not _STOP:
                self._release(item)
                if item.future.set_running_or_notify_cancel():
                    item.future.set_exception(error)
