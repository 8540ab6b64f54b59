"""The batching worker: who gets decoded with whom, in what order, and what happens when the queue
is full, a caller gives up, the model raises, short requests arrive during long work, or the
server stops."""

import threading
import time

import pytest

from scratchml.serve.batcher import Batcher, QueueFull, ShuttingDown
from tests.serve.conftest import Gated, wait_until


@pytest.fixture
def gated(translator):
    return Gated(translator)


def started(gated, **kw) -> Batcher:
    b = Batcher(gated, **kw)
    b.start()
    return b


def send(b: Batcher, texts, beam=1, max_length=None):
    return b.submit(b.translator.prepare(texts), beam, max_length)


def test_requests_queued_while_the_worker_is_busy_are_decoded_as_one_batch(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    first = send(b, ["a"], beam=4)
    assert gated.entered.wait(5)  # the worker is decoding "a"; the next ones queue up behind it
    rest = [send(b, [t], beam=4) for t in ("b", "c", "d")]
    gated.gate.set()
    assert first.result(5).translations == ["A"]
    assert [f.result(5).translations for f in rest] == [["B"], ["C"], ["D"]]
    assert [texts for texts, _ in gated.calls] == [["a"], ["b", "c", "d"]]
    assert rest[0].result().batch_requests == 3 and rest[0].result().batch_texts == 3
    b.stop()


def test_an_idle_worker_waits_the_window_for_more_requests(gated):
    b = started(gated, max_wait_ms=300)
    f1 = send(b, ["a"])
    time.sleep(0.03)  # well inside the window
    f2 = send(b, ["b", "c"])
    assert f1.result(5).translations == ["A"] and f2.result(5).translations == ["B", "C"]
    assert [texts for texts, _ in gated.calls] == [["a", "b", "c"]]
    b.stop()


def test_without_batching_every_request_is_decoded_alone(gated):
    b = started(gated, batching=False, max_wait_ms=300)
    gated.gate.clear()
    futures = [send(b, [t], beam=4) for t in "abcd"]
    gated.gate.set()
    assert [f.result(5).translations for f in futures] == [["A"], ["B"], ["C"], ["D"]]
    assert [texts for texts, _ in gated.calls] == [["a"], ["b"], ["c"], ["d"]]
    b.stop()


def test_calls_respect_the_size_cap_and_group_by_beam(gated):
    b = started(gated, max_batch_texts=4, max_wait_ms=0)
    gated.gate.clear()
    first = send(b, ["x"], beam=4)
    assert gated.entered.wait(5)
    jobs = [send(b, ["a1", "a2"], beam=4), send(b, ["b1"], beam=1), send(b, ["c1"], beam=4),
            send(b, ["d1", "d2"], beam=4)]
    gated.gate.set()
    assert [j.result(5).translations for j in jobs] == [["A1", "A2"], ["B1"], ["C1"], ["D1", "D2"]]
    first.result(5)
    # a, c share beam 4 and fit the cap of 4 sentences; d would not fit and waits for a call of its
    # own; b (beam 1) is decoded in a call of its own, in its turn (arrival order among short requests).
    assert gated.calls == [(["x"], 4), (["a1", "a2", "c1"], 4), (["b1"], 1), (["d1", "d2"], 4)]
    b.stop()


def test_a_long_request_is_decoded_in_turns_of_chunk_tokens_and_the_shortest_goes_first(gated):
    b = started(gated, max_wait_ms=0, chunk_tokens=10, short_tokens=3)
    gated.gate.clear()
    busy = send(b, ["x"])
    assert gated.entered.wait(5)
    long = send(b, ["a" * 6, "b" * 6, "c" * 6])  # 18 tokens: turns of at most 10 tokens
    medium = send(b, ["d" * 5])                     # long too (over 3 tokens), but fewer tokens left
    short = send(b, ["e"])                          # short: first, though it came last
    gated.gate.set()
    assert long.result(5).translations == ["A" * 6, "B" * 6, "C" * 6]
    assert medium.result(5).translations == ["D" * 5] and short.result(5).translations == ["E"] and busy.result(5)
    assert [texts for texts, _ in gated.calls] == [["x"], ["e"], ["ddddd"], ["aaaaaa"], ["bbbbbb"], ["cccccc"]]
    b.stop()


def test_short_requests_cut_into_long_decoding_between_its_steps(translator):
    gated = Gated(translator, hold=lambda texts: any(len(t) > 3 for t in texts))  # only long work waits
    b = started(gated, max_wait_ms=0, short_tokens=3)
    gated.gate.clear()
    long = send(b, ["long text"])
    assert gated.entered.wait(5)  # the long decode has started and waits between its "steps"
    shorts = [send(b, [t]) for t in ("a", "bc")]
    assert [f.result(5).translations for f in shorts] == [["A"], ["BC"]]  # done while the long one waits
    assert not long.done()
    gated.gate.set()
    assert long.result(5).translations == ["LONG TEXT"]
    assert [texts for texts, _ in gated.calls] == [["a", "bc"], ["long text"]]
    b.stop()


def test_a_full_queue_refuses_at_once(gated):
    b = started(gated, queue_size=2, max_wait_ms=0)
    gated.gate.clear()
    busy = send(b, ["a"])
    assert gated.entered.wait(5)
    waiting = send(b, ["b"])  # the queue holds the request being decoded and this one
    with pytest.raises(QueueFull, match="2 requests are already waiting"):
        send(b, ["c"])
    assert b.accepted == 2 and b.drain_seconds() >= 0
    gated.gate.set()
    assert [f.result(5).translations for f in [busy, waiting]] == [["A"], ["B"]]
    wait_until(lambda: b.accepted == 0, what="the places to be free again")
    b.stop()


def test_long_requests_take_at_most_half_the_places(gated):
    b = started(gated, queue_size=4, short_tokens=3, max_wait_ms=0)
    gated.gate.clear()
    longs = [send(b, ["long one"]), send(b, ["long two"])]
    assert gated.entered.wait(5)
    with pytest.raises(QueueFull, match="2 long requests are already waiting"):
        send(b, ["long three"])
    shorts = [send(b, ["a"]), send(b, ["b"])]  # the other half is left for short requests
    with pytest.raises(QueueFull, match="4 requests are already waiting"):
        send(b, ["c"])
    gated.gate.set()
    assert [f.result(5).translations[0] for f in longs + shorts] == ["LONG ONE", "LONG TWO", "A", "B"]
    wait_until(lambda: b.accepted == 0, what="the places to be free again")
    assert send(b, ["long three"]).result(5).translations == ["LONG THREE"]
    b.stop()


def test_a_cancelled_request_is_never_decoded(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    busy = send(b, ["a"])
    assert gated.entered.wait(5)
    gave_up = send(b, ["b"])
    assert gave_up.cancel()  # what the app does when a request times out
    kept = send(b, ["c"])
    gated.gate.set()
    assert busy.result(5).translations == ["A"] and kept.result(5).translations == ["C"]
    assert [texts for texts, _ in gated.calls] == [["a"], ["c"]]
    wait_until(lambda: b.accepted == 0, what="the cancelled request's place to be free")
    b.stop()


def test_cancelling_every_request_of_a_call_stops_it_between_steps(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    doomed = send(b, ["doomed"])
    assert gated.entered.wait(5)
    assert doomed.cancel()  # still pending: the worker holds it as decoding, not done
    nxt = send(b, ["next"])
    wait_until(lambda: b.accepted == 1, what="the cancelled call to stop")
    gated.gate.set()
    assert nxt.result(5).translations == ["NEXT"]
    assert [texts for texts, _ in gated.calls] == [["next"]]  # "doomed" never finished its call
    b.stop()


def test_a_request_that_gives_up_does_not_stop_the_others_in_its_call(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    busy = send(b, ["x"])
    assert gated.entered.wait(5)
    leaves, stays = send(b, ["leaves"]), send(b, ["stays"])
    gated.entered.clear()
    gated.hold = lambda texts: "stays" in texts  # "x" may finish; the next call waits
    busy.result(5)
    assert gated.entered.wait(5)  # both are in the next call, waiting at the gate
    assert leaves.cancel()
    time.sleep(0.05)  # several "steps": the call must go on for the request that stays
    gated.gate.set()
    assert stays.result(5).translations == ["STAYS"]
    assert gated.calls[-1] == (["leaves", "stays"], 1)
    b.stop()


def test_an_error_reaches_its_callers_and_the_worker_lives_on(translator):
    gated = Gated(translator, fail_on="boom")
    b = started(gated, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="a bug"):
        send(b, ["boom"]).result(5)
    assert send(b, ["fine"]).result(5).translations == ["FINE"]
    assert b.call(lambda tr: tr is gated).result(5) is True
    b.stop()


def test_stop_finishes_what_is_queued(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()
    futures = [send(b, [t]) for t in "abc"]
    stopper = threading.Thread(target=b.stop)
    stopper.start()
    gated.gate.set()
    stopper.join(5)
    assert not b.running
    assert [f.result(0).translations for f in futures] == [["A"], ["B"], ["C"]]
    with pytest.raises(QueueFull, match="not running"):
        send(b, ["late"])


def test_stop_is_bounded_and_cancels_the_decoding_in_progress(gated):
    b = started(gated, max_wait_ms=0)
    gated.gate.clear()  # and never opened: a decode that would run "for ever"
    stuck, queued = send(b, ["stuck"]), send(b, ["queued"])
    assert gated.entered.wait(5)
    start = time.monotonic()
    assert b.stop(timeout=0.2, grace=2) is True
    assert time.monotonic() - start < 1.5 and not b.running
    for f in (stuck, queued):
        with pytest.raises(ShuttingDown):
            f.result(0)
    assert b.accepted == 0 and gated.calls == []


def test_many_concurrent_callers_each_get_their_own_results(gated):
    b = started(gated, max_batch_texts=16, max_wait_ms=2)
    results, submitted, lock = {}, [], threading.Lock()

    def client(i):
        texts = [f"t{i}-{k}" for k in range(i % 3 + 1)]
        future = send(b, texts, beam=1 + i % 2)
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
    # 79 texts, at most 16 a call, two beam widths: between 5 and 16 decoding calls, where one
    # request per call would be 40.
    assert 5 <= len(gated.calls) <= 16
    b.stop()
