"""A real browser: headless Chromium (Debian's ``chromium``, driven by playwright) opens the page
served by ``scratchml nmt serve``, types English, clicks Translate and reads the result.

With the shipped model (models/en-es) the result must look Spanish; without it a tiny random model
is served and any non-empty result will do. The server runs as a subprocess on a free loopback
port and is stopped with SIGTERM, which must shut it down gracefully.
"""

import re
import shutil
import signal
from pathlib import Path

import pytest

from scratchml.shipped import model_dir as shipped_model_dir
from scratchml.translate.checkpoint import save_model_dir
from tests.serve.conftest import start_server, tiny_translator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHIPPED_DIR = shipped_model_dir("en-es")
SHIPPED = (SHIPPED_DIR / "model.safetensors").exists()
SENTENCE = "I would like a cup of coffee, please."
SPANISH_WORDS = {"de", "la", "el", "una", "un", "por", "favor", "café", "taza", "quiero", "me", "gustaría", "quisiera"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} "
                                "(Debian: apt-get install chromium; .ci/run does it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if SHIPPED:
        model_dir = SHIPPED_DIR
    else:
        tr = tiny_translator()
        model_dir = tmp_path_factory.mktemp("model") / "tiny"
        save_model_dir(model_dir, tr.model, tr.tokenizer, {})
    log = tmp_path_factory.mktemp("log") / "serve.log"
    proc, url = start_server(["nmt", "serve", "--model", str(model_dir), "--threads", "1"], log)
    yield url, log
    proc.send_signal(signal.SIGTERM)
    # Uvicorn shuts down gracefully, then re-raises the signal so a supervisor sees it: -SIGTERM.
    assert proc.wait(30) in (0, -signal.SIGTERM), log.read_text()
    assert "translation worker stopped" in log.read_text()


def test_type_click_and_read_the_translation(server):
    pw = pytest.importorskip("playwright.sync_api")
    url, log = server
    # The page's Content-Security-Policy forbids eval: wait with locators, not JavaScript strings.
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            fetched = []
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(url)
            page.fill("#source", SENTENCE)
            page.click("#translate")
            pw.expect(page.locator("#result")).to_have_text(re.compile(r"\S"), timeout=60_000)
            result = page.inner_text("#result").strip()
            status = page.inner_text("#status")

            page.check("#show-attention")
            page.click("#translate")
            page.wait_for_selector("#attention", state="visible", timeout=60_000)
            heatmap = page.locator("#heatmap").bounding_box()
        finally:
            browser.close()

    assert result and "Error" not in status
    if SHIPPED:  # a trained model: the answer must read as Spanish
        assert result != SENTENCE
        words = set(result.lower().replace(",", " ").replace(".", " ").split())
        assert words & SPANISH_WORDS, result
    assert heatmap["width"] > 100 and heatmap["height"] > 50
    assert all(u.startswith(url) or u.startswith("data:") for u in fetched), fetched  # nothing from elsewhere
    assert '"POST /v1/translate" 200' in log.read_text()
