"""The FastAPI application: ``create_app(translator, ServeConfig())``.

    POST /v1/translate   {"text": "..."} or {"texts": [...]}, optional "beam", "max_length"
    POST /v1/attention   {"text": "..."}: cross-attention weights of its translation (for the page)
    GET  /healthz        model loaded, version, queue and batching counters
    GET  /               the page: a text box, a Translate button, the result, a heatmap
    GET  /openapi.json   the schema (the Swagger/ReDoc pages are off: they load scripts from a CDN)

Client errors are answered as JSON ``{"detail": "..."}`` with a 4xx status, never a 500: the body
is read by hand (at most ``max_body_bytes``; 413 beyond), must be ``application/json`` (415) in
UTF-8 (415 for another charset, 400 for invalid bytes), must parse (400) and validate (422). A full
queue gives 503 with ``Retry-After``; a request not done within ``timeout_s`` gives 504.
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
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scratchml import __version__
from scratchml.errors import ScratchMLError
from scratchml.serve.accesslog import AccessLog
from scratchml.serve.batcher import Batcher, QueueFull, Result
from scratchml.serve.config import ServeConfig
from scratchml.serve.schema import AttentionResponse, ErrorResponse, Health, TranslateResponse, request_models

log = logging.getLogger("scratchml.serve")

# The page may talk to this server only: no script, style, font or image from anywhere else.
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _describe(e: ValidationError) -> tuple[int, str]:
    """(status, message) for a pydantic error: 400 for unparsable JSON, 422 for a wrong value."""
    errors = e.errors(include_url=False, include_input=False)
    for err in errors:
        if err["type"] == "json_invalid":
            return 400, f"the body is not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}"
    parts = [f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "; ".join(parts) + more


def _body_schema(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def create_app(translator, cfg: ServeConfig | None = None, model_info: dict | None = None) -> FastAPI:
    """An app serving ``translator`` (a scratchml.translate.Translator) with the limits of ``cfg``."""
    cfg = cfg or ServeConfig()
    batcher = Batcher(translator, cfg.max_batch_texts, cfg.max_wait_ms, cfg.queue_size, cfg.batching,
                      cfg.decode_chunk)
    TranslateRequest, AttentionRequest = request_models(cfg, translator.cfg.max_len - 1)
    info = {"parameters": translator.model.num_parameters(), "config": translator.cfg.to_dict(), **(model_info or {})}
    page = (resources.files("scratchml.serve") / "page.html").read_text(encoding="utf-8")
    page = page.replace("__MAX_CHARS__", str(cfg.max_chars)).replace("__ATTENTION_MAX_CHARS__",
                                                                     str(cfg.attention_max_chars))

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        log.info("translation worker started (batching %s, up to %d texts per batch, window %g ms, queue %d)",
                 "on" if cfg.batching else "off", batcher.max_batch_texts, cfg.max_wait_ms, cfg.queue_size)
        try:
            yield
        finally:
            # Uvicorn calls this after in-flight requests have finished: drain what is left.
            await asyncio.to_thread(batcher.stop)
            log.info("translation worker stopped after %d batches, %d requests", batcher.batches, batcher.requests)

    errors = {code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503, 504)}
    app = FastAPI(title="scratchml English→Spanish translator", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.batcher = batcher
    app.add_middleware(AccessLog)

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

    async def read_body(request: Request, model):
        mime, _, params = request.headers.get("content-type", "").partition(";")
        if mime.strip().lower() != "application/json":
            raise ApiError(415, 'send a JSON body with the header "Content-Type: application/json"')
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                raise ApiError(415, f"only UTF-8 is accepted, not charset={value.strip()}")
        too_big = ApiError(413, f"the body is larger than {cfg.max_body_bytes} bytes; send at most "
                                f"{cfg.max_texts} texts of at most {cfg.max_chars} characters")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > cfg.max_body_bytes:
            raise too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > cfg.max_body_bytes:
                raise too_big
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ApiError(400, f"the body is not valid UTF-8 ({e.reason} at byte {e.start})") from None
        try:
            return model.model_validate_json(text)
        except ValidationError as e:
            raise ApiError(*_describe(e)) from None

    def submit(put, *args):
        try:
            return put(*args)
        except QueueFull as e:
            retry = min(60, max(1, math.ceil(batcher.drain_seconds())))
            raise ApiError(503, f"the server is busy ({e}); retry in {retry} s",
                           {"Retry-After": str(retry)}) from None

    async def wait(future, arrived: float):
        left = cfg.timeout_s - (time.perf_counter() - arrived)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(left, 0.0))
        except TimeoutError:
            future.cancel()  # still queued: the worker will skip it
            raise ApiError(504, f"the translation did not finish within {cfg.timeout_s:g} s; "
                                "send fewer or shorter texts, or retry later") from None
        except ScratchMLError as e:
            raise ApiError(422, str(e)) from None

    @app.post("/v1/translate", response_model=TranslateResponse, response_model_exclude_none=True,
              responses=errors, openapi_extra=_body_schema(TranslateRequest),
              summary="Translate English text to Spanish")
    async def translate(request: Request):
        arrived = time.perf_counter()
        req = await read_body(request, TranslateRequest)
        texts = [req.text] if req.text is not None else req.texts
        if texts:
            result: Result = await wait(submit(batcher.submit, texts, req.beam, req.max_length), arrived)
        else:
            result = Result([], 0.0, 0.0, 0, 0)
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
        req = await read_body(request, AttentionRequest)

        def run(translator):
            source, target, weights = translator.cross_attention(req.text)
            return {"translation": translator.translate(req.text, beam=1), "source": source, "target": target,
                    "weights": weights.round(decimals=3).tolist()}

        return JSONResponse(await wait(submit(batcher.call, run), arrived))

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Liveness and model")
    async def healthz():
        body = {"status": "ok" if batcher.running else "unavailable", "version": __version__, "model": info,
                "batching": {"enabled": cfg.batching, "max_batch_texts": batcher.max_batch_texts,
                             "max_wait_ms": cfg.max_wait_ms, "decode_chunk": cfg.decode_chunk},
                "queue": {"waiting": batcher.queue.qsize(), "capacity": cfg.queue_size, "batches": batcher.batches,
                          "requests": batcher.requests, "texts": batcher.texts}}
        return JSONResponse(body, status_code=200 if batcher.running else 503)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff"})

    return app
