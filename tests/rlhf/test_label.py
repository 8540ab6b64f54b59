"""The labelling tool's store and API: judgments survive, bad submissions get a 4xx in JSON, texts
round-trip untouched, and the export is read back by the pair loader."""

import json
import sqlite3

import pytest
from fastapi.testclient import TestClient

from scratchml.errors import ScratchMLError
from scratchml.rlhf.judgments import JudgmentStore
from scratchml.rlhf.preferences import Pair, load_pairs, read_pair_texts
from scratchml.serve.label_app import create_label_app

HOSTILE = '<img src=x onerror="alert(1)"> & </div><script>alert(2)</script>'


def pairs():
    return [Pair("This movie", " was great.", " was awful.", "a", p_a=0.9),
            Pair("I rented it", " and loved it.", " and hated it.", "b", p_a=0.2),
            Pair(HOSTILE, " " + HOSTILE, " fine", "a", p_a=0.6)]


@pytest.fixture
def store(tmp_path):
    s = JudgmentStore(tmp_path / "labels.sqlite")
    assert s.add_pairs(pairs()) == 3 and s.add_pairs(pairs()) == 0  # the same pairs are not added twice
    yield s
    s.close()


@pytest.fixture
def client(store):
    return TestClient(create_label_app(store), base_url="http://127.0.0.1")


def test_each_annotator_walks_through_the_pairs_and_may_change_a_choice(store):
    assert store.next_pair("ana")["prompt"] == "This movie"
    store.judge(1, "a", "ana")
    store.judge(2, "tie", "ana")
    store.judge(2, "a", "ana")  # pressed the wrong key: the later choice counts
    assert store.next_pair("ana")["prompt"] == HOSTILE and store.next_pair("ben")["pair_id"] == 1
    store.judge(3, "skip", "ana")
    assert store.next_pair("ana") is None
    stats = store.stats()
    # ana agrees with the likelier choice on pair 1 (p_a 0.9 → a) and not on pair 2 (p_a 0.2 → b)
    assert stats["judgments"] == 3 and stats["choices"] == {"a": 2, "b": 0, "tie": 0, "skip": 1}
    assert stats["compared_with_simulated"] == 2 and stats["agreement_with_simulated"] == 0.5


def test_a_judgment_is_on_disk_once_judge_returns(store, tmp_path):
    store.judge(1, "b", "ana")
    # another connection, as after a crash: no close, no checkpoint of the write-ahead log
    other = sqlite3.connect(tmp_path / "labels.sqlite")
    assert other.execute("SELECT choice, annotator FROM judgments").fetchall() == [("b", "ana")]
    other.close()


def test_bad_judgments_are_refused(store):
    with pytest.raises(ScratchMLError, match="choice"):
        store.judge(1, "c", "ana")
    with pytest.raises(ScratchMLError, match="name"):
        store.judge(1, "a", " ")
    with pytest.raises(KeyError):
        store.judge(99, "a", "ana")


def test_the_export_is_read_back_as_training_pairs(store, tmp_path):
    store.judge(1, "b", "ana")
    store.judge(3, "a", "ana")
    store.judge(2, "tie", "ana")
    assert store.export(tmp_path / "out.jsonl") == 3
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[1]["prompt"] == HOSTILE and rows[1]["a"] == " " + HOSTILE  # texts kept exactly
    assert len(read_pair_texts(tmp_path / "out.jsonl")) == 3

    class Bytes:  # a stand-in tokenizer: one id per byte
        def encode(self, text, allow_special=False):
            return list(text.encode())

    loaded = load_pairs(tmp_path / "out.jsonl", Bytes(), eot_id=256)
    assert [(p.choice, p.annotator) for p in loaded] == [("b", "ana"), ("a", "ana")]  # the tie says nothing
    assert loaded[0].prompt_ids == [256, *b"This movie"]


def test_the_api_serves_pairs_and_saves_judgments(client):
    page = client.get("/")
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    first = client.get("/api/next", params={"annotator": "ana"}).json()
    assert first["pair_id"] == 1 and first["progress"] == {"judged": 0, "pairs": 3}
    saved = client.post("/api/judgments", json={"pair_id": 1, "choice": "a", "annotator": "ana"})
    assert saved.status_code == 201 and saved.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/next", params={"annotator": "ana"}).json()["pair_id"] == 2
    assert client.get("/api/stats").json()["judgments"] == 1
    export = client.get("/api/export")
    assert export.status_code == 200 and json.loads(export.text.splitlines()[0])["choice"] == "a"


@pytest.mark.parametrize("body, status", [
    ({"pair_id": 1, "choice": "c", "annotator": "ana"}, 422),
    ({"pair_id": 1, "choice": "a"}, 422),
    ({"pair_id": "1", "choice": "a", "annotator": "ana"}, 422),
    ({"pair_id": 1, "choice": "a", "annotator": "   "}, 422),
    ({"pair_id": 1, "choice": "a", "annotator": "x" * 65}, 422),
    ({"pair_id": 1, "choice": "a", "annotator": "ana", "extra": 1}, 422),
    ({"pair_id": 42, "choice": "a", "annotator": "ana"}, 404),
    ([1, 2], 422),
])
def test_malformed_submissions_get_a_4xx_in_json(client, body, status):
    r = client.post("/api/judgments", json=body)
    assert r.status_code == status and r.json()["detail"]
    assert client.get("/api/stats").json()["judgments"] == 0


def test_wrong_bodies_and_hosts(client):
    json_type = {"content-type": "application/json"}
    assert client.post("/api/judgments", content=b"{", headers=json_type).status_code == 400
    assert client.post("/api/judgments", content=b"\xff", headers=json_type).status_code == 400
    assert client.post("/api/judgments", content=b"x" * 5000, headers=json_type).status_code == 413
    assert client.post("/api/judgments", data={"pair_id": 1}).status_code == 415
    assert client.get("/api/next").status_code == 422
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    assert client.get("/", headers={"host": "evil.example"}).status_code == 421
