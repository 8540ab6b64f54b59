"""The FastAPI application: ``create_app(translator, ServeConfig())``.

    POST /v1/translate   {"text": "..."} or {"texts": [...]}, optional "beam", "max_length"
    POST /v1/attention   {"text": "..."}: cross-attention weights of its translation (for the page)
    POST /v1/memory      {"pairs": [{"source", "target"}, ...]}: add to the translation memory (--knn)
    POST /v1/neighbours  {"text": "..."}: per output token, the stored examples kNN-MT leaned on (--knn)
    GET  /healthz        "ok", "degraded" (503: saturated or stuck) or "unavailable" (503), and counters
    GET  /               the page: a text box, a Translate button, the result, a heatmap
    GET  /openapi.json   the schema (the Swagger/ReDoc pages are off: they load scripts from a CDN)

Client errors are answered as JSON ``{"detail": "..."}`` with a 4xx status, never a 500 (the
checks are in inputs.py). A full queue gives 503 with ``Retry-After``; a request not done within
``timeout_s`` gives 504, and its decoding stops (batcher.py), as it does when its client
disconnects. Every reply carries the headers of security.py; requests for another host get 421.
"""

import asyncio
import logging
import math
import time
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scratchml import __version__
from scratchml.errors import ScratchMLError
from scratchml.serve.accesslog import AccessLog
from scratchml.serve.batcher import Batcher, QueueFull, Result, ShuttingDown
from scratchml.serve.config import ServeConfig
from scratchml.serve.inputs import ApiError, check_tokens, read_body
from scratchml.serve.schema import (
    AttentionResponse,
    ErrorResponse,
    Health,
    TranslateResponse,
    request_models,
    retrieval_models,
)
from scratchml.serve.security import SECURITY_HEADERS, AllowedHosts, SecurityHeaders

log = logging.getLogger("scratchml.serve")

# The page may talk to this server only: no script, style, font or image from anywhere else, and no
# other site may frame it.
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# A client that closes its connection stops its decoding too; checked this often while it waits.
DISCONNECT_POLL_S = 0.25
SATURATED = 0.9  # /healthz says "degraded" when the accepted requests fill this share of the queue


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    # The headers are set here too because a 500 is sent from outside the middleware (by Starlette's
    # ServerErrorMiddleware, the outermost layer).
    return JSONResponse({"detail": detail}, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _body_schema(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def create_app(translator, cfg: ServeConfig | None = None, model_info: dict | None = None) -> FastAPI:
    """An app serving ``translator`` (a scratchml.translate.Translator) with the limits of ``cfg``."""
    cfg = cfg or ServeConfig()
    batcher = Batcher(translator, cfg.max_batch_texts, cfg.max_wait_ms, cfg.queue_size, cfg.batching,
                      cfg.decode_chunk, cfg.chunk_tokens, cfg.short_tokens)
    TranslateRequest, AttentionRequest = request_models(cfg, translator.cfg.max_len - 1)
    info = {"parameters": translator.model.num_parameters(), "config": translator.cfg.to_dict(), **(model_info or {})}
    limits = {k: getattr(cfg, k) for k in ("max_texts", "max_chars", "max_text_tokens", "max_request_tokens",
                                           "max_beam", "attention_max_chars", "attention_max_tokens", "timeout_s",
                                           "body_timeout_s", "idle_timeout_s")}
    page = (resources.files("scratchml.serve") / "page.html").read_text(encoding="utf-8")
    page = page.replace("__MAX_CHARS__", str(cfg.max_chars)).replace("__ATTENTION_MAX_CHARS__",
                                                                     str(cfg.attention_max_chars))

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        log.info("translation worker started (batching %s, up to %d sentences per call, window %g ms, queue %d)",
                 "on" if cfg.batching else "off", batcher.turns.decode_chunk, cfg.max_wait_ms, cfg.queue_size)
        try:
            yield
        finally:
            # Uvicorn calls this after in-flight requests have ended (each within its timeout): what
            # is left gets 2 s at most, so a stop signal is obeyed within timeout + 5 s.
            ended = await asyncio.to_thread(batcher.stop, 1.0, 1.0)
            log.info("translation worker %s after %d decoding calls, %d requests",
                     "stopped" if ended else "abandoned", batcher.batches, batcher.requests)

    errors = {code: {"model": ErrorResponse} for code in (400, 408, 413, 415, 421, 422, 503, 504)}
    app = FastAPI(title="scratchml English→Spanish translator", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.batcher = batcher
    app.add_middleware(AllowedHosts, hosts=cfg.allowed_hosts)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)  # the outermost: it logs the requests the others refuse too

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return _error(e.status, e.detail, e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, e: StarletteHTTPException):  # 404, 405, ...
        return _error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, e: RequestValidationError):
        return _error(422, "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()))

    @app.exception_handler(Exception)
    async def _bug(request, e: Exception):  # a server bug, never client input: logged with its traceback
        return _error(500, "internal error; the server log has the details")

    def submit(put, *args):
        try:
            return put(*args)
        except QueueFull as e:
            retry = min(60, max(1, math.ceil(batcher.drain_seconds())))
            raise ApiError(503, f"the server is busy ({e}); retry in {retry} s",
                           {"Retry-After": str(retry)}) from None

    async def wait(future, arrived: float, request: Request):
        """The future's result, within the request's timeout and while its client is connected;
        otherwise the future is cancelled: the worker drops it, or stops decoding it at its next step."""
        done = asyncio.wrap_future(future)
        deadline = arrived + cfg.timeout_s
        try:
            while not done.done():
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError
                await asyncio.wait({done}, timeout=min(left, DISCONNECT_POLL_S))
                if not done.done() and await request.is_disconnected():
                    future.cancel()
                    raise ApiError(499, "the client closed the connection; its translation was stopped")
            return done.result()
        except TimeoutError:
            future.cancel()
            raise ApiError(504, f"the translation did not finish within {cfg.timeout_s:g} s and was stopped; "
                                "send fewer or shorter texts, or retry later") from None
        except ShuttingDown:
            raise ApiError(503, "the server is shutting down; retry in a moment", {"Retry-After": "5"}) from None
        except ScratchMLError as e:
            raise ApiError(422, str(e)) from None

    @app.post("/v1/translate", response_model=TranslateResponse, response_model_exclude_none=True,
              responses=errors, openapi_extra=_body_schema(TranslateRequest),
              summary="Translate English text to Spanish")
    async def translate(request: Request):
        arrived = time.perf_counter()
        req = await read_body(request, TranslateRequest, cfg)
        texts = [req.text] if req.text is not None else req.texts
        # On a thread: pure-Python BPE costs ~1 s for 32 texts of 1,000 random letters (words of
        # 1,000 letters), and the event loop must keep answering other clients meanwhile.
        prepared = await asyncio.to_thread(translator.prepare, texts)
        names = ["text"] if req.text is not None else [f"texts.{i}" for i in range(len(texts))]
        check_tokens(prepared.text_tokens, names, cfg.max_text_tokens, cfg.max_request_tokens)
        if prepared.pieces:
            result: Result = await wait(submit(batcher.submit, prepared, req.beam, req.max_length), arrived,
                                        request)
        else:  # nothing to decode: empty texts, or texts without a word (kept as they are)
            result = Result(translator.finish(prepared, []), 0.0, 0.0, 0, 0)
        reply = TranslateResponse(
            translation=result.translations[0] if req.text is not None else None,
            translations=result.translations if req.texts is not None else None, beam=req.beam,
            timing={"queue_ms": round(result.queue_ms, 1), "decode_ms": round(result.decode_ms, 1),
                    "total_ms": round((time.perf_counter() - arrived) * 1000, 1)},
            batch={"requests": result.batch_requests, "texts": result.batch_texts})
        return JSONResponse(reply.model_dump(exclude_none=True))

    @app.post("/v1/attention", response_model=AttentionResponse, responses=errors,
              openapi_extra=_body_schema(AttentionRequest), summary="Cross-attention of a translation")
    async def attention(request: Request):
        arrived = time.perf_counter()
        req = await read_body(request, AttentionRequest, cfg)
        tokens = (await asyncio.to_thread(translator.prepare, [req.text])).text_tokens
        check_tokens(tokens, ["text"], cfg.attention_max_tokens, cfg.attention_max_tokens)

        def run(translator):
            source, target, weights = translator.cross_attention(req.text)
            # Whole thousandths: 1-4 digits a number, where float32 values would print 17 digits.
            return {"translation": translator.translate(req.text, beam=1), "source": source, "target": target,
                    "weights": weights.mul(1000).round().int().tolist()}

        return JSONResponse(await wait(submit(batcher.call, run), arrived, request))

    MemoryRequest, NeighboursRequest = retrieval_models(cfg)

    def retrieval():
        memory = getattr(translator, "memory", None)
        if memory is None:
            raise ApiError(404, "this server runs without a datastore: start it with --knn")
        return memory

    @app.post("/v1/memory", responses=errors, openapi_extra=_body_schema(MemoryRequest),
              summary="Add sentence pairs to the translation memory (--knn)")
    async def add_memory(request: Request):
        arrived = time.perf_counter()
        memory = retrieval()
        req = await read_body(request, MemoryRequest, cfg)
        pairs = [(p.source, p.target) for p in req.pairs]
        # on the decoding thread: the pairs go through the model, which must not decode meanwhile
        added = await wait(submit(batcher.call, lambda _: memory.add(pairs)), arrived, request)
        return JSONResponse({"added": added, "memory": len(memory)})

    @app.post("/v1/neighbours", responses=errors, openapi_extra=_body_schema(NeighboursRequest),
              summary="The stored examples behind each token of a translation (--knn)")
    async def neighbours(request: Request):
        arrived = time.perf_counter()
        retrieval()
        req = await read_body(request, NeighboursRequest, cfg)
        tokens = (await asyncio.to_thread(translator.prepare, [req.text])).text_tokens
        check_tokens(tokens, ["text"], cfg.attention_max_tokens, cfg.attention_max_tokens)
        return JSONResponse(await wait(submit(batcher.call, lambda tr: tr.neighbours(req.text)), arrived, request))

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Readiness and model")
    async def healthz():
        since = batcher.busy_since
        busy = time.perf_counter() - since if since is not None else 0.0
        problems = []
        if batcher.accepted >= SATURATED * cfg.queue_size:
            problems.append(f"saturated: {batcher.accepted} of {cfg.queue_size} places in the queue are taken")
        stalled = batcher.stalled_seconds()
        if stalled > cfg.timeout_s:
            problems.append(f"stuck: no decoding step for {stalled:.0f} s, longer than the request timeout")
        status = "unavailable" if not batcher.running else "degraded" if problems else "ok"
        body = {"status": status, "problems": problems, "version": __version__, "model": info, "limits": limits,
                "batching": {"enabled": cfg.batching, "max_batch_texts": cfg.max_batch_texts,
                             "max_wait_ms": cfg.max_wait_ms, "decode_chunk": cfg.decode_chunk,
                             "chunk_tokens": cfg.chunk_tokens, "short_tokens": cfg.short_tokens},
                "queue": {"waiting": batcher.accepted, "capacity": cfg.queue_size, "busy_s": round(busy, 1),
                          "batches": batcher.batches, "requests": batcher.requests, "texts": batcher.texts,
                          "sentences": batcher.sentences}}
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP})

    return app
