"""The service with kNN-MT (``--knn``): a pair added to the memory is used by the next request, the
neighbours of a translation are shown, bad or oversized memory requests get JSON 4xx, and a server
without a datastore says how to get one."""

import pytest

from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import fingerprint
from scratchml.translate import RetrievalTranslator, TranslationMemory
from scratchml.translate.knn import teacher_forced_keys
from tests.serve.conftest import client_for, tiny_translator

PAIRS = [("The cat sees the dog.", "El gato ve al perro."), ("How are you today?", "¿Cómo estás hoy?")]


@pytest.fixture(scope="module")
def knn_client(tmp_path_factory):
    tr = tiny_translator()
    enc = tr.tokenizer.encode
    keys, values, origins = teacher_forced_keys(tr.model, [enc(en) for en, _ in PAIRS], [enc(es) for _, es in PAIRS],
                                                progress=False)
    examples = [{"source": en, "target": es} for en, es in PAIRS]
    ds = Datastore.build(tmp_path_factory.mktemp("knn") / "ds", keys, values, origins, examples,
                         fingerprint(tr.model, tr.tokenizer), nlist=2)
    wrapped = RetrievalTranslator(tr, TranslationMemory(tr, ds))
    with client_for(wrapped, max_chars=60, memory_max_pairs=2) as c:
        yield c, tr


def test_a_memory_pair_is_used_by_the_next_request(knn_client):
    client, tr = knn_client
    text, mine = "A big red house.", "Una casa roja grande."
    assert client.post("/v1/translate", json={"text": text}).json()["translation"] != mine
    r = client.post("/v1/memory", json={"pairs": [{"source": text, "target": mine}]})
    assert r.status_code == 200 and r.json() == {"added": 1, "memory": 1}
    assert client.post("/v1/translate", json={"texts": [text, "x"]}).json()["translations"][0] == mine
    assert client.post("/v1/memory", json={"pairs": [{"source": text, "target": mine}]}).json()["added"] == 0


def test_neighbours_name_the_stored_pairs(knn_client):
    client, _ = knn_client
    body = client.post("/v1/neighbours", json={"text": "The cat sees the dog."}).json()
    assert body["steps"] and {n["source"] for s in body["steps"] for n in s["neighbours"]} <= \
        {en for en, _ in PAIRS} | {"A big red house."}


@pytest.mark.parametrize("body, status", [
    ({"pairs": []}, 422),
    ({"pairs": [{"source": "a", "target": ""}]}, 422),
    ({"pairs": [{"source": "a", "target": "  "}]}, 422),
    ({"pairs": [{"source": "a"}]}, 422),
    ({"pairs": [{"source": "a", "target": "b"}] * 3}, 422),
    ({"pairs": [{"source": "a" * 61, "target": "b"}]}, 422),
    ({"pairs": "a\tb"}, 422),
])
def test_bad_memory_requests_add_nothing(knn_client, body, status):
    client, _ = knn_client
    before = client.get("/healthz").json()
    r = client.post("/v1/memory", json=body)
    assert r.status_code == status and r.json()["detail"]
    assert client.get("/healthz").json()["queue"]["requests"] == before["queue"]["requests"]


def test_an_oversized_memory_request_gets_413(knn_client):
    client, _ = knn_client
    r = client.post("/v1/memory", content=b'{"pairs": [' + b" " * 500_000 + b"]}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"]


def test_without_a_datastore_the_endpoints_say_how_to_get_one(translator):
    with client_for(translator) as client:
        r = client.post("/v1/memory", json={"pairs": [{"source": "a", "target": "b"}]})
        assert r.status_code == 404 and "--knn" in r.json()["detail"]
        assert client.post("/v1/neighbours", json={"text": "a"}).status_code == 404
