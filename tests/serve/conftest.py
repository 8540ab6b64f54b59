"""A tiny random-weight translator (fast, deterministic) and helpers to run the app around it.

Random weights are enough here: these tests are about HTTP, validation, batching and shutdown, not
about translation quality (tests/translate/ covers the model). The translator runs torch on one
thread so that the CPU time of a test does not depend on what else the machine is doing.
"""

import logging
import socket
import threading
import time
from contextlib import contextmanager

import pytest
import torch
from fastapi.testclient import TestClient

from scratchml.bpe import Tokenizer
from scratchml.serve.app import create_app
from scratchml.serve.config import ServeConfig
from scratchml.translate.config import preset
from scratchml.translate.decode import DecodingCancelled
from scratchml.translate.model import Transformer
from scratchml.translate.translator import Prepared, Translator

CORPUS = ["The cat sees the dog.", "El gato ve al perro.", "How are you today?", "¿Cómo estás hoy?",
          "I would like a cup of coffee, please.", "Quisiera una taza de café, por favor."]


def tiny_translator(seed: int = 0) -> Translator:
    tok = Tokenizer.train(CORPUS * 4, vocab_size=300, special_tokens=("<pad>", "<bos>", "<eos>"), progress=False)
    sp = tok.special_tokens
    torch.manual_seed(seed)
    cfg = preset("tiny", vocab_size=tok.vocab_size, pad_id=sp["<pad>"], bos_id=sp["<bos>"], eos_id=sp["<eos>"])
    return Translator(Transformer(cfg), tok)


@pytest.fixture(scope="package")
def translator():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_translator()
    torch.set_num_threads(threads)


class Gated:
    """A fake translator around ``inner`` (whose config and model it shows) that "translates" a
    text into its upper case, one piece per text whose tokens are its characters. ``translate_ids``
    records its texts and, while ``gate`` is closed and ``hold(texts)`` is true (asked again and
again: a test may change ``hold``), waits, asking
    ``should_stop`` every few milliseconds like the decoder does between its steps; ``entered`` is
    set once the worker is inside. So a test can hold the worker busy on chosen work."""

    def __init__(self, inner, fail_on: str | None = None, hold=lambda texts: True):
        self.inner, self.cfg, self.model = inner, inner.cfg, inner.model
        self.gate, self.entered, self.calls, self.fail_on, self.hold = (threading.Event(), threading.Event(), [],
                                                                        fail_on, hold)
        self.gate.set()

    def prepare(self, texts):
        return Prepared(list(texts), [None] * len(texts), [[[ord(c) for c in t]] if t else [] for t in texts])

    def finish(self, prepared, outputs):
        outputs = iter(outputs)
        return ["".join(map(chr, next(outputs))) if segs else "" for segs in prepared.segments]

    def translate_ids(self, pieces, beam=4, max_length=None, batch_size=64, should_stop=None):
        texts = ["".join(map(chr, p)) for p in pieces]
        deadline = time.monotonic() + 10
        while self.hold(texts) and not self.gate.wait(0.005):
            self.entered.set()
            if should_stop is not None and should_stop():
                raise DecodingCancelled("decoding was cancelled")
            assert time.monotonic() < deadline, "test left the gate closed"
        self.calls.append((texts, beam))
        if self.fail_on in texts:
            raise RuntimeError("a bug in the model code")
        return [[ord(c) for c in t.upper()] for t in texts]


@contextmanager
def client_for(translator, **cfg):
    """A TestClient with the app's lifespan running (the batching worker started and stopped)."""
    app = create_app(translator, ServeConfig(**cfg))
    # "localhost": a Host header the app serves by default (TestClient's own is "testserver")
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Lines(logging.Handler):
    """Collects the messages of the log records it is given, for tests of what gets logged."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def start_server(args: list[str], log, ready_path: str = "healthz", timeout: float = 120.0):
    """``scratchml ARGS --port P`` as a subprocess logging to ``log``: (process, base url) once
    ``ready_path`` answers 200; the test fails with the log if it never does."""
    import os
    import subprocess
    import sys

    import httpx

    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scratchml.cli.main", *args, "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + ready_path, timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the server did not come up:\n{log.read_text()}")
        time.sleep(0.2)
