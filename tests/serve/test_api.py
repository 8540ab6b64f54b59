"""The HTTP API through the ASGI test client: replies, every kind of client error, 503/504, the
access log, the page and the schema."""

import json
import logging
import re

import pytest

from tests.serve.conftest import Gated, Lines, client_for, wait_until


@pytest.fixture(scope="module")
def client(translator):
    with client_for(translator, max_chars=50, max_texts=3) as c:
        yield c


def test_translate_one_text_and_a_list_like_the_translator_itself(client, translator):
    r = client.post("/v1/translate", json={"text": "How are you today?", "beam": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["translation"] == translator.translate("How are you today?", beam=2)
    assert "translations" not in body and body["beam"] == 2
    assert set(body["timing"]) == {"queue_ms", "decode_ms", "total_ms"} and body["batch"]["texts"] == 1

    texts = ["The cat sees the dog.", "", "I would like a cup of coffee."]
    r = client.post("/v1/translate", json={"texts": texts, "beam": 1, "max_length": 5})
    assert r.status_code == 200
    assert r.json()["translations"] == translator.translate(texts, beam=1, max_length=5)
    assert r.json()["translations"][1] == ""


def test_empty_inputs(client):
    assert client.post("/v1/translate", json={"text": ""}).json()["translation"] == ""
    assert client.post("/v1/translate", json={"texts": []}).json()["translations"] == []


def test_health(client, translator):
    r = client.get("/healthz")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["problems"] == [] and h["version"]
    assert h["limits"]["max_texts"] == 3 and h["limits"]["max_request_tokens"] == 2048
    assert h["model"]["parameters"] == sum(p.numel() for p in translator.model.parameters())
    assert h["batching"]["enabled"] is True and h["queue"]["capacity"] == 64


def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert 'id="source"' in page and 'id="translate"' in page and 'id="result"' in page
    assert 'maxlength="50"' in page  # the server's limit, filled in
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page loads something from elsewhere"
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_openapi_states_the_enforced_limits(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/translate", "/v1/attention", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/v1/translate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    text = next(s for s in body["properties"]["text"]["anyOf"] if s["type"] == "string")
    texts = next(s for s in body["properties"]["texts"]["anyOf"] if s["type"] == "array")
    assert text["maxLength"] == 50 and texts["maxItems"] == 3
    assert body["properties"]["beam"]["maximum"] == 8
    assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN


JSON = "application/json"
BAD_REQUESTS = [  # (content type, body, status, words in the message)
    (None, b'{"text": "hi"}', 415, "Content-Type: application/json"),
    ("text/plain", b'{"text": "hi"}', 415, "Content-Type"),
    ("application/x-www-form-urlencoded", b"text=hi", 415, "Content-Type"),
    ("application/json; charset=latin-1", b'{"text": "hi"}', 415, "only UTF-8"),
    (JSON, b'{"text": "caf\xe9"}', 400, "not valid UTF-8"),
    (JSON, b"\xef\xbb\xbf" + b'{"text": "hi"}', 400, "not valid JSON"),
    (JSON, b"", 400, "not valid JSON"),
    (JSON, b'{"text": "hi"', 400, "not valid JSON"),
    (JSON, b"[" * 1000 + b"]" * 1000, 400, "recursion limit"),
    (JSON, b'{"text": "\\ud800"}', 400, "not valid JSON"),  # a lone surrogate
    (JSON, b'"hi"', 422, "body: Input should be an object"),
    (JSON, b"{}", 422, "exactly one of"),
    (JSON, b'{"text": "a", "texts": ["b"]}', 422, "exactly one of"),
    (JSON, b'{"text": null}', 422, "exactly one of"),
    (JSON, b'{"text": 5}', 422, "text: Input should be a valid string"),
    (JSON, b'{"texts": "abc"}', 422, "texts: Input should be a valid array"),
    (JSON, b'{"texts": ["a", 1]}', 422, "texts.1"),
    (JSON, b'{"texts": ["a", "b", "c", "d"]}', 422, "at most 3 items"),
    (JSON, json.dumps({"text": "x" * 51}).encode(), 422, "at most 50 characters"),
    (JSON, json.dumps({"texts": ["ok", "x" * 51]}).encode(), 422, "texts.1: String should have at most 50"),
    (JSON, b'{"text": "hi", "beam": 0}', 422, "beam: Input should be greater than or equal to 1"),
    (JSON, b'{"text": "hi", "beam": 9}', 422, "less than or equal to 8"),
    (JSON, b'{"text": "hi", "beam": true}', 422, "beam: Input should be a valid integer"),
    (JSON, b'{"text": "hi", "beam": 4.0}', 422, "beam: Input should be a valid integer"),
    (JSON, b'{"text": "hi", "beam": "4"}', 422, "beam: Input should be a valid integer"),
    (JSON, b'{"text": "hi", "beam": NaN}', 422, "beam"),
    (JSON, b'{"text": "hi", "beam": 1e999}', 422, "beam"),
    (JSON, b'{"text": "hi", "max_length": 0}', 422, "max_length"),
    (JSON, b'{"text": "hi", "max_length": 100000000000000000000000}', 422, "max_length"),
    (JSON, b'{"txt": "hi"}', 422, "txt: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("ctype, body, status, words", BAD_REQUESTS,
                         ids=[f"{i}-{case[2]}" for i, case in enumerate(BAD_REQUESTS)])
def test_client_errors_are_json_4xx_with_a_message(client, ctype, body, status, words):
    headers = {"content-type": ctype} if ctype else {}
    r = client.post("/v1/translate", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert words in r.json()["detail"]


def test_a_body_larger_than_any_valid_request_is_refused_unread(client):
    cap = 3 * (50 * 12 + 8) + 1024  # ServeConfig.max_body_bytes for 3 texts of 50 characters
    r = client.post("/v1/translate", content=b" " * (cap + 1), headers={"content-type": JSON})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    def chunks():  # no Content-Length: the body is counted while it streams in
        for _ in range(cap // 1000 + 2):
            yield b" " * 1000

    r = client.post("/v1/translate", content=chunks(), headers={"content-type": JSON})
    assert r.status_code == 413
    # The largest valid body fits: every character a 12-byte escaped surrogate pair.
    big = '{"texts": [' + ", ".join(['"' + "\\ud83d\\ude00" * 50 + '"'] * 3) + "]}"
    assert len(big) <= cap
    r = client.post("/v1/translate", content=big.encode(), headers={"content-type": JSON})
    assert r.status_code == 200 and len(r.json()["translations"]) == 3


def test_unknown_paths_and_methods_are_json_errors(client):
    r = client.get("/v2/translate")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.get("/v1/translate")
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"} and "POST" in r.headers["allow"]


def test_attention(client):
    r = client.post("/v1/attention", json={"text": "The cat sees the dog."})
    assert r.status_code == 200
    a = r.json()
    cfg = client.app.state.batcher.translator.cfg
    assert len(a["weights"]) == cfg.n_decoder_layers and len(a["weights"][0]) == cfg.n_heads
    T, S = len(a["target"]), len(a["source"])
    for head in (h for layer in a["weights"] for h in layer):
        assert len(head) == T and all(len(row) == S for row in head)
        # each query's weights are a distribution, in whole thousandths (each rounded by at most 0.5)
        assert all(isinstance(w, int) and 0 <= w <= 1000 for row in head for w in row)
        assert all(abs(sum(row) - 1000) <= S / 2 + 1 for row in head)
    assert a["source"][-1] == "</s>" and isinstance(a["translation"], str)
    assert client.post("/v1/attention", json={"text": "   "}).status_code == 422
    assert client.post("/v1/attention", json={"text": "x" * 301}).status_code == 422
    no_word = client.post("/v1/attention", json={"text": "😀 42"})
    assert no_word.status_code == 422 and "without a word" in no_word.json()["detail"]


def test_a_full_queue_gives_503_with_retry_after(translator):
    gated = Gated(translator)
    with client_for(gated, queue_size=1) as c:
        batcher = c.app.state.batcher
        gated.gate.clear()
        busy = batcher.submit(gated.prepare(["held"]), beam=1)  # the one place: taken until answered
        assert gated.entered.wait(5)
        r = c.post("/v1/translate", json={"text": "one too many"})
        gated.gate.set()
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["detail"]
        assert busy.result(5)
        wait_until(lambda: batcher.accepted == 0, what="the place to be free")
        assert c.post("/v1/translate", json={"text": "now it fits"}).json()["translation"] == "NOW IT FITS"


def test_a_request_that_takes_too_long_gives_504_and_is_not_decoded(translator):
    gated = Gated(translator)
    with client_for(gated, timeout_s=0.3) as c:
        gated.gate.clear()
        held = c.app.state.batcher.submit(gated.prepare(["held"]), beam=1)
        assert gated.entered.wait(5)
        r = c.post("/v1/translate", json={"text": "too late"})
        gated.gate.set()
        assert r.status_code == 504 and "did not finish within 0.3 s" in r.json()["detail"]
        held.result(5)
        assert c.post("/v1/translate", json={"text": "next"}).status_code == 200
        assert ["too late"] not in [texts for texts, _ in gated.calls]


def test_a_bug_in_the_model_is_a_json_500_not_a_client_error(translator):
    with client_for(Gated(translator, fail_on="boom"), timeout_s=5) as c:
        r = c.post("/v1/translate", json={"texts": ["boom"]})
        assert r.status_code == 500 and "internal error" in r.json()["detail"]
        assert c.post("/v1/translate", json={"text": "fine"}).status_code == 200


def test_one_access_log_line_per_request(client):
    # A handler on the logger itself: `scratchml` CLI runs earlier in the session stop propagation.
    logger, handler = logging.getLogger("scratchml.serve.access"), Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.post("/v1/translate", json={"text": "hi", "beam": 1})
        client.get("/nowhere/%0Afake log line")
        client.post("/v1/translate", content=b"{", headers={"content-type": JSON})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = handler.lines
    assert len(lines) == 3
    assert re.fullmatch(r'\S+ "POST /v1/translate" 200 \d+\.\d ms', lines[0])
    assert re.fullmatch(r'\S+ "GET /nowhere/%0Afake%20log%20line" 404 \d+\.\d ms', lines[1])  # no forged line
    assert re.fullmatch(r'\S+ "POST /v1/translate" 400 \d+\.\d ms', lines[2])
