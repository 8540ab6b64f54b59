"""The page of a server started with ``--knn``, in headless Chromium: the retrieval section appears,
a pair added through the form is used by the next translation, and the neighbours of a translation
are listed as text (a stored sentence with markup stays text)."""

import signal
from pathlib import Path

import pytest

from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import fingerprint
from scratchml.translate import Translator
from scratchml.translate.checkpoint import save_model_dir
from scratchml.translate.knn import teacher_forced_keys
from tests.serve.conftest import start_server, tiny_translator
from tests.serve.test_browser import ARGS, CHROMIUM

HOSTILE = 'The <img src=x onerror="alert(1)"> cat.'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("knn-page")
    tiny = tiny_translator()
    save_model_dir(root / "model", tiny.model, tiny.tokenizer, {})
    tr = Translator.load(root / "model", bf16=False)
    pairs = [(HOSTILE, "El gato."), ("How are you today?", "¿Cómo estás hoy?")]
    enc = tr.tokenizer.encode
    keys, values, origins = teacher_forced_keys(tr.model, [enc(a) for a, _ in pairs], [enc(b) for _, b in pairs],
                                                progress=False)
    Datastore.build(root / "ds", keys, values, origins, [{"source": a, "target": b} for a, b in pairs],
                    fingerprint(tr.model, tr.tokenizer), nlist=2)
    log = root / "serve.log"
    proc, url = start_server(["nmt", "serve", "--model", str(root / "model"), "--knn", "--datastore", str(root / "ds"),
                              "--threads", "1", "--no-bf16"], log)
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) in (0, -signal.SIGTERM), log.read_text()


def test_memory_form_and_neighbours(server):
    pw = pytest.importorskip("playwright.sync_api")
    dialogs = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(server)
            pw.expect(page.locator("#retrieval")).to_be_visible()
            page.fill("#memory-source", "A red tree.")
            page.fill("#memory-target", "Un árbol rojo.")
            page.click("#memory-add")
            pw.expect(page.locator("#memory-status")).to_contain_text("1 pair added")
            page.fill("#source", "A red tree.")
            page.click("#translate")
            pw.expect(page.locator("#result")).to_have_text("Un árbol rojo.")
            page.check("#show-neighbours")
            page.fill("#source", HOSTILE)
            page.click("#translate")
            pw.expect(page.locator("#neighbours li").first).to_be_visible()
            listed = page.inner_text("#neighbours")
            assert page.locator("#neighbours img").count() == 0
        finally:
            browser.close()
    assert "λ" in listed and not dialogs
