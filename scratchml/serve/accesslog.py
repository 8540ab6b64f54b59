"""An access log: one line per HTTP request with client, method, path, status and latency.

Written as plain ASGI middleware (a wrapper around ``send`` that notes the status) rather than
Starlette's BaseHTTPMiddleware, which buffers responses through an extra task. The path is logged
percent-encoded so a request cannot forge log lines with an encoded newline.
"""

import logging
import time
from urllib.parse import quote

log = logging.getLogger("scratchml.serve.access")


class AccessLog:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500  # stays 500 when the app raises before answering

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            client = scope.get("client")
            where = f"{client[0]}:{client[1]}" if client else "-"
            path = quote(scope.get("path", ""), safe="/-._~")
            log.info('%s "%s %s" %d %.1f ms', where, scope["method"], path, status,
                     (time.perf_counter() - start) * 1000)
