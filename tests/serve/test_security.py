"""Security headers on every reply (errors included), the Host check against DNS rebinding, and an
access log that writes nothing a client typed verbatim."""

import logging
import re

import pytest
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from scratchml.serve.accesslog import client_address
from scratchml.serve.app import create_app
from scratchml.serve.config import ServeConfig
from scratchml.serve.security import host_name
from tests.serve.conftest import Gated, Lines, client_for

JSON = {"content-type": "application/json"}


def assert_secure(r):
    h = r.headers
    assert h["x-content-type-options"] == "nosniff", (r.status_code, dict(h))
    assert h["x-frame-options"] == "DENY" and h["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "server" not in h or "uvicorn" not in h["server"]


def test_every_reply_carries_the_security_headers(translator):
    gated = Gated(translator, fail_on="boom")
    with client_for(gated, max_chars=20, max_texts=2, queue_size=1, timeout_s=0.3) as c:
        replies = {
            "page": c.get("/"), "health": c.get("/healthz"), "schema": c.get("/openapi.json"),
            "200": c.post("/v1/translate", json={"text": "hi"}),
            "400": c.post("/v1/translate", content=b"{", headers=JSON),
            "404": c.get("/nowhere"), "405": c.get("/v1/translate"),
            "413": c.post("/v1/translate", content=b" " * 100_000, headers=JSON),
            "415": c.post("/v1/translate", content=b"{}"),
            "421": c.get("/healthz", headers={"host": "evil.example"}),
            "422": c.post("/v1/translate", json={"txt": "hi"}),
            "500": c.post("/v1/translate", json={"text": "boom"}),
        }
        gated.gate.clear()
        held = c.app.state.batcher.submit(gated.prepare(["held"]), 1)  # takes the one place
        assert gated.entered.wait(5)
        replies["503"] = c.post("/v1/translate", json={"text": "full"})
        gated.gate.set()
        held.result(5)
        gated.hold = lambda texts: "slow" in texts
        gated.gate.clear()
        replies["504"] = c.post("/v1/translate", json={"text": "slow"})
        gated.gate.set()
    for name, r in replies.items():
        assert str(r.status_code) == name or name in ("page", "health", "schema"), (name, r.status_code)
        assert_secure(r)
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/json" and r.json()["detail"]
    page_csp = replies["page"].headers["content-security-policy"]
    assert "default-src 'none'" in page_csp and "connect-src 'self'" in page_csp


@pytest.mark.parametrize("host, served", [
    ("localhost", True), ("localhost:8000", True), ("LOCALHOST:1", True), ("127.0.0.1:8000", True),
    ("[::1]:8000", True), ("[::1]", True), ("evil.example", False), ("evil.example:8000", False),
    ("127.0.0.1.evil.example", False), ("localhost.", False), ("", False), ("[::1", False),
])
def test_only_allowed_host_names_are_served(translator, host, served):
    with client_for(translator) as c:
        r = c.get("/healthz", headers={"host": host})
        assert r.status_code == (200 if served else 421), r.text
        if not served:
            assert "Host header" in r.json()["detail"] and (not host or host not in r.json()["detail"])


def test_any_host_with_a_star_and_the_parsing_of_host_headers(translator):
    with client_for(translator, allowed_hosts=("*",)) as c:
        assert c.get("/healthz", headers={"host": "whatever.example"}).status_code == 200
    assert [host_name(h) for h in ("a.b:80", "[fe80::1]:8000", "::1", "x")] == ["a.b", "fe80::1", "::1", "x"]


def test_client_addresses_are_logged_only_when_they_are_addresses(translator):
    assert client_address(("127.0.0.1", 5000)) == "127.0.0.1:5000"
    assert client_address(("::1", 5000)) == "[::1]:5000" and client_address(None) == "-"
    forged = '1.2.3.4:0 "GET /admin" 200 0.1 ms\n9.9.9.9'
    assert client_address((forged, 0)) == "invalid:1.2.3.4%3A0%20%22GET%20%2Fadmin%22%20200%200.1%20ms%0A9.9.9.9"
    assert len(client_address(("x" * 10_000, 0))) < 80

    # Through uvicorn's X-Forwarded-For handling, as behind a proxy: the header's text is not logged as is.
    app = create_app(translator, ServeConfig(allowed_hosts=("*",)))
    logger, handler = logging.getLogger("scratchml.serve.access"), Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with TestClient(ProxyHeadersMiddleware(app, trusted_hosts="*")) as c:
            c.get("/healthz", headers={"x-forwarded-for": 'evil" "GET /admin" 200 1.0 ms'})
            c.get("/healthz", headers={"x-forwarded-for": "203.0.113.9"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert re.fullmatch(r'invalid:evil%22%20%22GET%20%2Fadmin%22%20200%201\.0%20ms "GET /healthz" 200 \d+\.\d ms',
                        handler.lines[0]), handler.lines[0]
    assert handler.lines[1].startswith("203.0.113.9:0 ")
