"""The batching worker: who gets decoded with whom, in what order, and what happens when the queue
is full, a caller gives up, the model raises, or the server stops."""

import threading
import time

import pytest

from scratchml.serve.batcher import Batcher, QueueFull
from tests.serve.conftest import Gated, wait_until


@pytest.fixture
def gated(translator):
    return Gated(translator)


def started(gated, **kw) -> Batcher:
    b = Batcher(gated, **kw)
    b.start()
    return b


def test_requests_queued_while_the_worker_is_busy_are_decoded_as_one_batch(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    first = b.submit(["a"], beam=4)
    assert gated.entered.wait(5)  # the worker is decoding "a"; the next ones queue up behind it
    rest = [b.submit([t], beam=4) for t in ("b", "c", "d")]
    gated.gate.set()
    assert first.result(5).translations == ["A"]
    assert [f.result(5).translations for f in rest] == [["B"], ["C"], ["D"]]
    assert [texts for texts, _ in gated.calls] == [["a"], ["b", "c", "d"]]
    assert rest[0].result().batch_requests == 3 and rest[0].result().batch_texts == 3
    b.stop()


def test_an_idle_worker_waits_the_window_for_more_requests(gated):
    b = started(gated, max_wait_ms=300)
    f1 = b.submit(["a"], beam=1)
    time.sleep(0.03)  # well inside the window
    f2 = b.submit(["b", "c"], beam=1)
    assert f1.result(5).translations == ["A"] and f2.result(5).translations == ["B", "C"]
    assert [texts for texts, _ in gated.calls] == [["a", "b", "c"]]
    b.stop()


def test_without_batching_every_request_is_decoded_alone(gated):
    b = started(gated, batching=False, max_wait_ms=300)
    gated.gate.clear()
    futures = [b.submit([t], beam=4) for t in "abcd"]
    gated.gate.set()
    assert [f.result(5).translations for f in futures] == [["A"], ["B"], ["C"], ["D"]]
    assert [texts for texts, _ in gated.calls] == [["a"], ["b"], ["c"], ["d"]]
    b.stop()


def test_batches_respect_the_size_cap_and_group_by_beam(gated):
    b = started(gated, max_batch_texts=4, max_wait_ms=0)
    gated.gate.clear()
    first = b.submit(["x"], beam=4)
    assert gated.entered.wait(5)
    jobs = [b.submit(["a1", "a2"], beam=4), b.submit(["b1"], beam=1), b.submit(["c1"], beam=4),
            b.submit(["d1", "d2"], beam=4)]
    gated.gate.set()
    assert [j.result(5).translations for j in jobs] == [["A1", "A2"], ["B1"], ["C1"], ["D1", "D2"]]
    first.result(5)
    # Batch 2 takes a, b, c (4 texts); d would exceed the cap and waits for batch 3. Within a batch,
    # each beam width is one decoding call.
    assert gated.calls == [(["x"], 4), (["a1", "a2", "c1"], 4), (["b1"], 1), (["d1", "d2"], 4)]
    b.stop()


def test_a_full_queue_refuses_at_once(gated):
    b = started(gated, queue_size=2, max_wait_ms=0)
    gated.gate.clear()
    busy = b.submit(["a"], beam=1)
    assert gated.entered.wait(5)
    waiting = [b.submit(["b"], beam=1), b.submit(["c"], beam=1)]
    with pytest.raises(QueueFull, match="2 requests are already waiting"):
        b.submit(["d"], beam=1)
    assert b.drain_seconds() >= 0
    gated.gate.set()
    assert [f.result(5).translations for f in [busy, *waiting]] == [["A"], ["B"], ["C"]]
    b.stop()


def test_a_cancelled_request_is_never_decoded(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    busy = b.submit(["a"], beam=1)
    assert gated.entered.wait(5)
    gave_up = b.submit(["b"], beam=1)
    assert gave_up.cancel()  # what the app does when a request times out
    kept = b.submit(["c"], beam=1)
    gated.gate.set()
    assert busy.result(5).translations == ["A"] and kept.result(5).translations == ["C"]
    assert [texts for texts, _ in gated.calls] == [["a"], ["c"]]
    b.stop()


def test_an_error_reaches_its_callers_and_the_worker_lives_on(translator):
    gated = Gated(translator, fail_on="boom")
    b = started(gated, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="a bug"):
        b.submit(["boom"], beam=1).result(5)
    assert b.submit(["fine"], beam=1).result(5).translations == ["FINE"]
    assert b.call(lambda tr: tr is gated).result(5) is True
    b.stop()


def test_stop_finishes_what_is_queued(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    futures = [b.submit([t], beam=1) for t in "abc"]
    stopper = threading.Thread(target=b.stop)
    stopper.start()
    gated.gate.set()
    stopper.join(5)
    assert not b.running
    assert [f.result(0).translations for f in futures] == [["A"], ["B"], ["C"]]
    with pytest.raises(QueueFull, match="not running"):
        b.submit(["late"], beam=1)


def test_many_concurrent_callers_each_get_their_own_results(gated):
    b = started(gated, max_batch_texts=16, max_wait_ms=2)
    results, submitted, lock = {}, [], threading.Lock()

    def client(i):
        texts = [f"t{i}-{k}" for k in range(i % 3 + 1)]
        future = b.submit(texts, beam=1 + i % 2)
        with lock:
            submitted.append(i)
        out = future.result(10).translations
        with lock:
            results[i] = (texts, out)

    gated.gate.clear()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    wait_until(lambda: len(submitted) == 40, what="40 submitted requests")
    gated.gate.set()
    for t in threads:
        t.join()
    assert len(results) == 40
    assert all(out == [t.upper() for t in texts] for texts, out in results.values())
    # 79 texts, at most 16 a batch (each but the last holds >= 14), up to two beam widths in each:
    # between 5 and 14 decoding calls, where one request per call would be 40.
    assert 5 <= len(gated.calls) <= 14
    b.stop()
