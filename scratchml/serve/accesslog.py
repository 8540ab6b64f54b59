"""An access log: one line per HTTP request with client, method, path, status and latency.

Written as plain ASGI middleware (a wrapper around ``send`` that notes the status) rather than
Starlette's BaseHTTPMiddleware, which buffers responses through an extra task. Nothing a client
wrote is logged verbatim: the path is percent-encoded, so a request cannot forge log lines with an
encoded newline, and the client address must parse as an IP address. Behind a proxy uvicorn takes
that address from the ``X-Forwarded-For`` header, which is the client's own text; one that is not
an address is logged percent-encoded after ``invalid:``.
"""

import ipaddress
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
            where = client_address(scope.get("client"))
            path = quote(scope.get("path", ""), safe="/-._~")
            log.info('%s "%s %s" %d %.1f ms', where, scope["method"], path, status,
                     (time.perf_counter() - start) * 1000)


def client_address(client) -> str:
    """"host:port" of an ASGI client, "[v6]:port" for IPv6, "-" when unknown."""
    if not client:
        return "-"
    try:
        ip = ipaddress.ip_address(client[0])
    except ValueError:
        return "invalid:" + quote(str(client[0])[:64], safe="")
    return f"[{ip}]:{client[1]}" if ip.version == 6 else f"{ip}:{client[1]}"
