"""uvicorn's HTTP/1.1 connection handling (its h11 protocol), with two changes for untrusted clients.

A deadline for the request head. uvicorn closes a keep-alive connection that stays silent after a
reply (``timeout_keep_alive``), but it starts that clock only after a first reply, and any byte
stops it: a connection that never sends a request, or sends its head one byte at a time, is kept
open for good, each holding a socket and memory. Here a connection must deliver a complete request
head within ``timeout_keep_alive`` seconds (``--idle-timeout``) of opening or of its last reply;
otherwise it is closed. The body has its own deadline (``read_body`` in app.py).

JSON errors. A request that h11 cannot parse — a malformed request line or header, or a head
over h11's 16 KiB limit — never reaches the app: uvicorn answers it with a text/plain 400. Here
that reply is a JSON ``{"detail": ...}`` with the app's security headers, like every other error.

Both hook into uvicorn's ``H11Protocol`` (uvicorn 0.32: ``connection_made``, ``handle_events``,
``on_response_complete``, ``send_400_response``); tests/serve/test_connections.py checks them
against a real server, so an uvicorn upgrade that changes these methods fails there.
"""

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from scratchml.serve.security import SECURITY_HEADERS

BAD_REQUEST = json.dumps({"detail": "the request could not be parsed: a malformed request line or header, "
                                    "or a request head (URL and headers) over 16 KiB"}).encode()


class Protocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._expect_head()

    def handle_events(self) -> None:
        super().handle_events()
        if self._answering():
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._answering():
            self._expect_head()

    def connection_lost(self, exc) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _answering(self) -> bool:
        """A request's head has arrived and its reply is not complete yet."""
        return self.cycle is not None and not self.cycle.response_complete

    def _expect_head(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_overdue)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if not self._answering() and not self.transport.is_closing():
            self.transport.close()  # h11 cannot answer a request it has not received: just close

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BAD_REQUEST)).encode()),
                   (b"connection", b"close"), *[(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=BAD_REQUEST), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
