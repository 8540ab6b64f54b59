"""Connections under a real uvicorn with the server's own settings (server.uvicorn_options): idle
and slow clients are cut off, a head h11 cannot parse gets a JSON 400, and a stop signal during a
decode that would run on and on, with slow clients connected, ends within the request timeout +
5 s with JSON replies and nothing logged as an error."""

import json
import logging
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from scratchml.serve.app import create_app
from scratchml.serve.config import ServeConfig
from scratchml.serve.server import uvicorn_options
from tests.serve.conftest import Gated, free_port, wait_until


@contextmanager
def running(app, cfg: ServeConfig):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(cfg, "127.0.0.1", port), log_level="warning"))
    thread = threading.Thread(target=server.run)  # off the main thread: no signal handlers
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    try:
        yield server, thread, port
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def port(translator):
    cfg = ServeConfig(idle_timeout_s=0.5, body_timeout_s=0.5)
    with running(create_app(translator, cfg), cfg) as (_, _, port):
        yield port


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_reply(s: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed without a reply: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += s.recv(65536)
    return int(lines[0].split()[1]), headers, body


def closed_within(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except (TimeoutError, socket.timeout):
        return False
    except ConnectionResetError:
        return True


def test_a_connection_that_sends_nothing_is_closed(port):
    s = connect(port)
    start = time.monotonic()
    assert closed_within(s, 3)
    assert 0.3 < time.monotonic() - start < 2


def test_a_head_sent_a_byte_at_a_time_is_cut_off(port):
    s = connect(port)
    start, closed = time.monotonic(), False
    for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100:
        try:
            s.send(bytes([byte]))
        except OSError:
            closed = True
            break
        if closed_within(s, 0.05):
            closed = True
            break
    assert closed and time.monotonic() - start < 2


def test_a_kept_alive_connection_is_closed_when_idle_after_its_reply(port):
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert read_reply(s)[0] == 200
    assert closed_within(s, 3)


def test_a_slow_body_gets_a_json_408(port):
    s = connect(port)
    s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{\"text\": ")
    start = time.monotonic()
    status, headers, body = read_reply(s)
    assert status == 408 and 0.4 < time.monotonic() - start < 2
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    assert "did not arrive within 0.5 s" in json.loads(body)["detail"]
    assert closed_within(s, 2)


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",  # over 16 KiB
    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
], ids=["head-over-16-KiB", "bad-header", "not-http"])
def test_a_request_h11_cannot_parse_gets_a_json_400(port, request_bytes):
    s = connect(port)
    try:
        s.sendall(request_bytes)
    except OSError:
        pass  # the server may answer and close before reading everything
    status, headers, body = read_reply(s)
    assert status == 400 and headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert "could not be parsed" in json.loads(body)["detail"]


class Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_a_stop_during_endless_decoding_and_slow_clients_ends_within_timeout_plus_5_s(translator):
    gated = Gated(translator)  # its decode never ends by itself; it only listens to should_stop
    gated.gate.clear()
    cfg = ServeConfig(timeout_s=2, body_timeout_s=1)
    errors = Errors()
    for name in ("uvicorn.error", "scratchml.serve"):
        logging.getLogger(name).addHandler(errors)
    try:
        app = create_app(gated, cfg)
        with running(app, cfg) as (server, thread, port):
            reply = {}
            client = threading.Thread(target=lambda: reply.update(r=httpx.post(
                f"http://127.0.0.1:{port}/v1/translate", json={"text": "endless"}, timeout=30)))
            client.start()
            assert gated.entered.wait(5)
            slow = [connect(port) for _ in range(5)]
            for s in slow:
                s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 50\r\n\r\n{")
            time.sleep(0.2)
            start = time.monotonic()
            server.should_exit = True  # what uvicorn's SIGTERM handler does
            thread.join(cfg.shutdown_s + 1)
            took = time.monotonic() - start
            client.join(5)
            slow_replies = [read_reply(s) for s in slow]
    finally:
        for name in ("uvicorn.error", "scratchml.serve"):
            logging.getLogger(name).removeHandler(errors)
    assert not thread.is_alive() and took <= cfg.shutdown_s, took
    assert reply["r"].status_code == 504 and reply["r"].json()["detail"]
    assert [status for status, _, _ in slow_replies] == [408] * 5
    assert all(h["content-type"] == "application/json" for _, h, _ in slow_replies)
    assert not app.state.batcher.running and app.state.batcher.accepted == 0
    assert not [r for r in errors.records if r.levelno >= logging.ERROR or r.exc_info], \
        [r.getMessage() for r in errors.records]


def test_a_client_that_disconnects_stops_its_decoding(translator):
    gated = Gated(translator)  # its decode never ends by itself; it only listens to should_stop
    gated.gate.clear()
    cfg = ServeConfig(timeout_s=30)
    app = create_app(gated, cfg)
    with running(app, cfg) as (_, _, port):
        s = connect(port)
        body = json.dumps({"text": "endless"}).encode()
        s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert gated.entered.wait(5)
        s.close()
        start = time.monotonic()
        wait_until(lambda: app.state.batcher.accepted == 0 and app.state.batcher.busy_since is None,
                   timeout=5, what="the decode of the disconnected client to stop")
        assert time.monotonic() - start < 2  # far within the 30 s timeout
        gated.gate.set()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/translate", json={"text": "next"})
        assert r.json()["translation"] == "NEXT"
    assert gated.calls == [(["next"], 4)]  # the endless call was abandoned, not finished


def test_connections_past_the_limit_get_a_json_503_and_are_not_read(translator):
    gated = Gated(translator)
    cfg = ServeConfig(max_connections=2)
    app = create_app(gated, cfg)
    with running(app, cfg) as (_, _, port):
        held = [connect(port) for _ in range(2)]
        time.sleep(0.2)
        extra = connect(port)
        extra.sendall(b'POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'
                      b'Content-Length: 16\r\n\r\n{"text": "no"}  ')
        status, headers, body = read_reply(extra)
        assert status == 503 and headers["content-type"] == "application/json" and headers["retry-after"] == "5"
        assert "too many open connections" in json.loads(body)["detail"]
        assert headers["x-content-type-options"] == "nosniff"
        held[0].close()
        time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/translate", json={"text": "yes"})
        assert r.json()["translation"] == "YES"
    assert gated.calls == [(["yes"], 4)]  # the refused request was never decoded


def test_a_reply_overdue_is_cut_off(translator):
    from scratchml.serve.protocol import protocol_for

    gated = Gated(translator)  # its decode never ends by itself; it only listens to should_stop
    gated.gate.clear()
    cfg = ServeConfig(timeout_s=30)
    app = create_app(gated, cfg)
    port = free_port()
    options = {**uvicorn_options(cfg, "127.0.0.1", port), "http": protocol_for(100, 0.5)}
    server = uvicorn.Server(uvicorn.Config(app, **options, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        wait_until(lambda: server.started, what="uvicorn to start")
        s = connect(port)
        s.sendall(b'POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'
                  b'Content-Length: 19\r\n\r\n{"text": "endless"}')
        assert closed_within(s, 3)  # aborted at 0.5 s, long before the 30 s request timeout
        wait_until(lambda: app.state.batcher.accepted == 0, timeout=5, what="the decode to be dropped")
    finally:
        gated.gate.set()
        server.should_exit = True
        thread.join(30)
