"""The labelling page in a real browser (Debian's ``chromium``, driven by playwright): a person types a
name, judges pairs by keyboard and by click, and hostile text shows as text. Then the server is
killed (SIGKILL, no shutdown): every judgment the page was told was saved is still in the database."""

import json
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.rlhf.test_label import HOSTILE
from tests.serve.conftest import start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} "
                                "(Debian: apt-get install chromium; .ci/run does it)")


@pytest.fixture
def server(tmp_path):
    rows = [{"prompt": "This movie", "a": " was wonderful.", "b": " was dull.", "choice": "a", "p_a": 0.8},
            {"prompt": HOSTILE, "a": " " + HOSTILE, "b": " <b>bold?</b>", "choice": "b", "p_a": 0.3},
            {"prompt": "I rented it", "a": " twice.", "b": " once.", "choice": "a", "p_a": 0.5}]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    db = tmp_path / "labels.sqlite"
    proc, url = start_server(["rlhf", "label", "--pairs", str(tmp_path / "pairs.jsonl"), "--db", str(db)],
                             tmp_path / "label.log", ready_path="api/stats", timeout=60)
    yield url, db, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_judge_by_key_and_click_then_kill_the_server(server):
    pw = pytest.importorskip("playwright.sync_api")
    url, db, proc = server
    dialogs, fetched = [], []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(url)
            page.click("#start")  # no name yet
            pw.expect(page.locator("#status")).to_contain_text("name")
            page.fill("#annotator", "ana")
            page.click("#start")
            pw.expect(page.locator("#prompt")).to_have_text("This movie")
            page.keyboard.press("a")
            pw.expect(page.locator("#prompt")).to_have_text(HOSTILE)
            # the hostile texts are text: no element was made from them
            assert page.locator("#prompt img, #a img, #a script, #b b").count() == 0
            pw.expect(page.locator("#a")).to_have_text(" " + HOSTILE)
            page.click("#choose-b")
            pw.expect(page.locator("#prompt")).to_have_text("I rented it")
            page.keyboard.press("t")
            pw.expect(page.locator("#status")).to_contain_text("All pairs are judged")
            pw.expect(page.locator("#progress")).to_have_text("3 of 3 judged")
        finally:
            browser.close()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with sqlite3.connect(db) as conn:
        saved = conn.execute("SELECT p.prompt, j.choice, j.annotator FROM judgments j JOIN pairs p "
                             "ON p.id = j.pair_id ORDER BY j.id").fetchall()
    assert saved == [("This movie", "a", "ana"), (HOSTILE, "b", "ana"), ("I rented it", "tie", "ana")]
    assert not dialogs and all(u.startswith(url) or u.startswith("data:") for u in fetched), (dialogs, fetched)
