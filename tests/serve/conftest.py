"""A tiny random-weight translator (fast, deterministic) and helpers to run the app around it.

Random weights are enough here: these tests are about HTTP, validation, batching and shutdown, not
about translation quality (tests/translate/ covers the model). The translator runs torch on one
thread so that the CPU time of a test does not depend on what else the machine is doing.
"""

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
from scratchml.translate.model import Transformer
from scratchml.translate.translator import Translator

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
    """Wraps a translator: ``translate`` records its texts and waits while ``gate`` is closed, so a
    test can hold the worker busy; ``entered`` is set once the worker is inside ``translate``."""

    def __init__(self, inner, fail_on: str | None = None):
        self.inner, self.cfg, self.model = inner, inner.cfg, inner.model
        self.gate, self.entered, self.calls, self.fail_on = threading.Event(), threading.Event(), [], fail_on
        self.gate.set()

    def translate(self, texts, beam=4, max_length=None, batch_size=64):
        self.entered.set()
        assert self.gate.wait(10), "test left the gate closed"
        self.calls.append((list(texts), beam))
        if self.fail_on in texts:
            raise RuntimeError("a bug in the model code")
        return [t.upper() for t in texts]


@contextmanager
def client_for(translator, **cfg):
    """A TestClient with the app's lifespan running (the batching worker started and stopped)."""
    app = create_app(translator, ServeConfig(**cfg))
    with TestClient(app, raise_server_exceptions=False) as client:
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
