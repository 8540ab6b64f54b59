"""Reading and checking a request before any decoding: every failure is an ``ApiError``, which the
app answers as JSON ``{"detail": "..."}`` with a 4xx status.

The checks go from cheap to dear, so a hostile request costs little: the content type (415), the
announced and the received body size (413, the body is not read further), the time the body takes
to arrive (408: a client that sends a byte now and then would otherwise hold a connection and a
task for as long as it likes), UTF-8 (400), JSON (400), the schema with its character limits (422),
and last the token limits (413), which need the tokenizer: decoding costs grow with tokens, and
1,000 characters can be 250 tokens of English or 3,000 of Chinese.
"""

import asyncio

from fastapi import Request
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from scratchml.serve.config import ServeConfig


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def _describe(e: ValidationError) -> tuple[int, str]:
    """(status, message) for a pydantic error: 400 for unparsable JSON, 422 for a wrong value."""
    errors = e.errors(include_url=False, include_input=False)
    for err in errors:
        if err["type"] == "json_invalid":
            return 400, f"the body is not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}"
    parts = [f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "; ".join(parts) + more


async def read_body(request: Request, model, cfg: ServeConfig):
    """The request's body validated by the pydantic ``model``."""
    mime, _, params = request.headers.get("content-type", "").partition(";")
    if mime.strip().lower() != "application/json":
        raise ApiError(415, 'send a JSON body with the header "Content-Type: application/json"')
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ApiError(415, f"only UTF-8 is accepted, not charset={value.strip()[:20]}")
    too_big = ApiError(413, f"the body is larger than {cfg.max_body_bytes} bytes; send at most "
                            f"{cfg.max_texts} texts of at most {cfg.max_chars} characters")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cfg.max_body_bytes:
        raise too_big
    body, deadline = bytearray(), min(cfg.body_timeout_s, cfg.timeout_s)  # within the request's timeout too
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                body += chunk
                if len(body) > cfg.max_body_bytes:
                    raise too_big
    except TimeoutError:
        raise ApiError(408, f"the body did not arrive within {deadline:g} s",
                       {"Connection": "close"}) from None
    except ClientDisconnect:
        raise ApiError(400, "the client closed the connection before its body was complete") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"the body is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        raise ApiError(*_describe(e)) from None


def check_tokens(text_tokens: list[int], names: list[str], max_text: int, max_total: int) -> None:
    """413 when a text (named ``names[i]`` in the message) or all of them together have too many tokens."""
    for name, n in zip(names, text_tokens):
        if n > max_text:
            raise ApiError(413, f"{name}: {n} tokens, more than the {max_text} a text may have "
                                "(English has about 4 characters per token); split it into several texts")
    if sum(text_tokens) > max_total:
        raise ApiError(413, f"the texts have {sum(text_tokens)} tokens together, more than the {max_total} "
                            "a request may have; send them in several requests")
