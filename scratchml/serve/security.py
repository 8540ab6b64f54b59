"""Headers on every reply, and the Host check, as plain ASGI middleware.

- ``X-Content-Type-Options: nosniff``: a browser must not guess that a JSON reply holding a
  client's text is HTML or a script.
- ``Content-Security-Policy`` with ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` (for
  older browsers): no other site may show the page inside a frame and trick a user into clicking
  it. A JSON reply gets ``default-src 'none'`` too: it loads nothing. The page sets its own policy.
- ``Referrer-Policy: no-referrer``: the page's address is not sent along with links.

The Host check defends against DNS rebinding: a hostile web page whose domain name is made to
resolve to 127.0.0.1 could otherwise call this server from the visitor's browser, as if it were the
same site. Such a request carries the hostile name in its ``Host`` header, so only the names in
``allowed_hosts`` (by default the loopback names, plus the address the server binds to) are
served; any other gets 421 Misdirected Request.
"""

from fastapi.responses import JSONResponse

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Adds each header of SECURITY_HEADERS that a reply does not set itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in _RAW if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def host_name(header: str) -> str:
    """The name in a Host header, without its port: "localhost:8000" -> "localhost",
    "[::1]:8000" -> "::1"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class AllowedHosts:
    """Answers 421 to a request whose Host header is not one of ``hosts`` ("*": any)."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, frozenset(hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "*" not in self.hosts:
            headers = dict(scope.get("headers", []))
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.hosts:
                reply = JSONResponse({"detail": "this server does not answer to the host name in the Host header; "
                                                "its operator can add the name with --allowed-hosts"},
                                     status_code=421, headers=SECURITY_HEADERS)
                return await reply(scope, receive, send)
        await self.app(scope, receive, send)
