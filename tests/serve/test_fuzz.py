"""Schema fuzzing of the API with hypothesis: 650 generated requests, no 5xx.

The request strategies are derived from the app's own ``/openapi.json`` (the schema a client
sees): values that obey it, values just outside its limits, values of the wrong JSON type, unknown
keys, lone surrogates, invalid UTF-8, arbitrary bytes and content types, arbitrary paths and
methods. Every reply must be a 2xx, 404/405 or a JSON 4xx with a message; a valid request must get
one translation per text.
"""

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.serve.conftest import client_for

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ANY_CHAR = st.characters(codec=None, categories=None)  # every code point, surrogates included
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=8)
ANY_JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


def valid(schema: dict):
    """Values that satisfy ``schema`` (the subset of JSON Schema that pydantic writes)."""
    if "anyOf" in schema:
        return st.one_of([valid(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "string":
        return st.text(ANY_CHAR.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF),
                       min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 20))
    if kind == "integer":
        return st.integers(int(schema["minimum"]), int(schema["maximum"]))
    if kind == "array":
        return st.lists(valid(schema["items"]), min_size=schema.get("minItems", 0), max_size=schema.get("maxItems", 4))
    raise AssertionError(f"no strategy for {schema}")


def invalid(schema: dict):
    """Values just outside ``schema``'s limits, or of another JSON type."""
    if "anyOf" in schema:
        return st.one_of([invalid(s) for s in schema["anyOf"] if s.get("type") != "null"])
    kind, near = schema.get("type"), []
    if kind == "string" and "maxLength" in schema:
        near.append(st.text(min_size=schema["maxLength"] + 1, max_size=schema["maxLength"] + 3))
    if kind == "string":
        near.append(st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3))  # lone surrogates
    if kind == "integer":
        lo, hi = int(schema["minimum"]), int(schema["maximum"])
        near += [st.sampled_from([lo - 1, hi + 1, -(2 ** 70), 2 ** 70, float(lo), True])]
    if kind == "array":
        near.append(st.lists(valid(schema["items"]), min_size=schema.get("maxItems", 4) + 1,
                             max_size=schema.get("maxItems", 4) + 2))
        near.append(st.lists(ANY_JSON, min_size=1, max_size=3))
    return st.one_of(*near, ANY_JSON)


@st.composite
def one_field_wrong(draw, props: dict):
    """A valid request, then (mostly) one field set to an invalid value or one unknown key added."""
    request = draw(st.fixed_dictionaries({"texts": valid(props["texts"]["anyOf"][0]), "beam": valid(props["beam"]),
                                          "max_length": valid(props["max_length"])}))
    key = draw(st.sampled_from(sorted(props) + ["txt", None]))
    if key is not None:
        request[key] = draw(invalid(props[key]) if key in props else ANY_JSON)
    return request


@pytest.fixture(scope="module")
def api(translator):
    with client_for(translator, max_chars=40, max_texts=3, default_beam=1, max_beam=3) as client:
        schema = client.get("/openapi.json").json()
        body = schema["paths"]["/v1/translate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        yield client, body["properties"]


def check(r):
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json" or r.status_code == 200
    if r.status_code >= 400:
        assert isinstance(r.json()["detail"], str) and r.json()["detail"]


def send(client, body: bytes, ctype: str = "application/json"):
    r = client.post("/v1/translate", content=body, headers={"content-type": ctype})
    check(r)
    return r


def test_valid_requests_get_one_translation_per_text(api):
    client, props = api
    sent = []
    requests = st.one_of(
        st.fixed_dictionaries({"text": valid(props["text"]["anyOf"][0])}, optional={"beam": valid(props["beam"])}),
        st.fixed_dictionaries({"texts": valid(props["texts"]["anyOf"][0])},
                              optional={"beam": valid(props["beam"]), "max_length": valid(props["max_length"])}))

    @settings(max_examples=200, **SETTINGS)
    @given(requests, st.booleans())
    def run(request, ascii_only):
        r = send(client, json.dumps(request, ensure_ascii=ascii_only).encode())
        sent.append(r.status_code)
        assert r.status_code == 200, r.text
        out = r.json()
        if "text" in request:
            assert isinstance(out["translation"], str)
        else:
            assert len(out["translations"]) == len(request["texts"])

    run()
    assert len(sent) == 200


def test_mutated_requests_never_get_a_5xx(api):
    client, props = api
    sent = []
    field = {k: st.one_of(valid(s), invalid(s)) for k, s in props.items()}
    requests = st.one_of(one_field_wrong(props), st.fixed_dictionaries({}, optional={**field, "txt": ANY_JSON}),
                         ANY_JSON)

    @settings(max_examples=250, **SETTINGS)
    @given(requests, st.booleans())
    def run(request, ascii_only):
        body = json.dumps(request, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")  # may be invalid UTF-8
        sent.append(send(client, body).status_code)

    run()
    assert len(sent) == 250 and {200, 422} <= set(sent), sorted(set(sent))


def test_arbitrary_bytes_and_content_types_never_get_a_5xx(api):
    client, _ = api
    sent = []
    ctypes = st.sampled_from(["application/json", "application/json; charset=utf-8", "application/json; charset=utf-16",
                              "text/plain", "", "multipart/form-data; boundary=x", "application/jsonx"])
    ctypes |= st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)  # any header-safe value

    @settings(max_examples=150, **SETTINGS)
    @given(st.binary(max_size=300) | st.text(max_size=100).map(str.encode), ctypes)
    def run(body, ctype):
        sent.append(send(client, body, ctype).status_code)

    run()
    assert len(sent) == 150


def test_arbitrary_methods_and_paths_never_get_a_5xx(api):
    client, _ = api
    sent = []

    @settings(max_examples=50, **SETTINGS)
    @given(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
           st.sampled_from(["", "v1/translate", "v1/attention", "healthz", "openapi.json"]) | st.text(max_size=30))
    def run(method, path):
        r = client.request(method, "/" + quote(path), content=b"{}", headers={"content-type": "application/json"})
        sent.append(r.status_code)
        assert r.status_code < 500, (method, path, r.status_code, r.text)

    run()
    assert len(sent) == 50
