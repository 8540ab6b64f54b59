"""The labelling page for human preferences: ``create_label_app(store)`` (``scratchml rlhf label``).

    GET  /                 the page: a prompt, continuations A and B, buttons and keys A / B / T (tie) / S (skip)
    GET  /api/next?annotator=NAME    the next pair NAME has not judged: {"pair_id", "prompt", "a", "b"}
                                     ({"done": true} when none is left), with the progress
    POST /api/judgments    {"pair_id": int, "choice": "a"|"b"|"tie"|"skip", "annotator": "NAME"} → 201
    GET  /api/stats        counts and agreement with the simulated annotator
    GET  /api/export       every judgment as JSON lines (the format ``scratchml rlhf reward --pairs`` reads)

The page never puts a text into HTML: prompts and continuations come from a language model and from
people, so they are shown with ``textContent``, and the page's Content-Security-Policy allows no
script from anywhere but itself. Malformed submissions get a 4xx with a JSON ``{"detail": ...}``;
the headers and the Host check are the translation service's (security.py).
"""

import json
from importlib import resources
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scratchml.errors import ScratchMLError
from scratchml.rlhf import MAX_ANNOTATOR, JudgmentStore
from scratchml.serve.security import SECURITY_HEADERS, AllowedHosts, SecurityHeaders

PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
MAX_BODY_BYTES = 4096  # a judgment is a few dozen bytes


class Judgment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    pair_id: int = Field(ge=1)
    choice: Literal["a", "b", "tie", "skip"]
    annotator: str = Field(min_length=1, max_length=MAX_ANNOTATOR, pattern=r"\S")


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=SECURITY_HEADERS)


def _first_problem(errors) -> str:
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
    return f"{where}: {e.get('msg', 'invalid')}"


def create_label_app(store: JudgmentStore, allowed_hosts=("127.0.0.1", "localhost", "::1")) -> FastAPI:
    app = FastAPI(title="scratchml preference labelling", docs_url=None, redoc_url=None)
    page = (resources.files("scratchml.serve") / "label.html").read_text(encoding="utf-8")
    page = page.replace("__MAX_ANNOTATOR__", str(MAX_ANNOTATOR))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return _error(422, _first_problem(exc.errors()))

    @app.exception_handler(Exception)
    async def crashed(request, exc):  # never a traceback to the client
        return _error(500, "internal error: the judgment was not saved")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/api/next")
    def next_pair(annotator: str = Query(min_length=1, max_length=MAX_ANNOTATOR, pattern=r"\S")):
        pair = store.next_pair(annotator.strip())
        progress = {"judged": store.judged_by(annotator.strip()), "pairs": store.count_pairs()}
        return JSONResponse({**(pair or {"done": True}), "progress": progress})

    @app.post("/api/judgments", status_code=201)
    async def judge(request: Request):
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
            return _error(415, 'send a JSON body with the header "Content-Type: application/json"')
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            data = Judgment.model_validate(json.loads(body.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "the body is not UTF-8 JSON")
        except ValidationError as e:
            return _error(422, _first_problem(e.errors()))
        try:
            saved = store.judge(data.pair_id, data.choice, data.annotator)
        except KeyError:
            return _error(404, f"no pair {data.pair_id}")
        except ScratchMLError as e:
            return _error(422, str(e))
        return JSONResponse({"saved": saved}, status_code=201)

    @app.get("/api/stats")
    def stats():
        return JSONResponse(store.stats())

    @app.get("/api/export")
    def export():
        return PlainTextResponse(store.jsonl(), media_type="application/x-ndjson",
                                 headers={"Content-Disposition": 'attachment; filename="judgments.jsonl"'})

    return AllowedHosts(SecurityHeaders(app), allowed_hosts)
