"""uvicorn's HTTP/1.1 connection handling (its h11 protocol), with changes for untrusted clients.

A deadline for the request head. uvicorn closes a keep-alive connection that stays silent after a
reply (``timeout_keep_alive``), but it starts that clock only after a first reply, and any byte
stops it: a connection that never sends a request, or sends its head one byte at a time, is kept
open for good, each holding a socket and memory. Here a connection must deliver a complete request
head within ``timeout_keep_alive`` seconds (``--idle-timeout``) of opening or of its last reply;
otherwise it is closed. The body has its own deadline (``read_body`` in app.py).

A deadline for the reply. A request's reply must be complete within ``reply_timeout`` seconds
of its head (the body's and the request's timeouts and a few seconds to send): a client that stops
reading its reply would otherwise hold the request's task and its buffered reply for good. An
overdue connection is aborted, its unsent bytes dropped.

A limit on connections. Each open connection costs a socket and memory; past ``max_connections``
a new one gets a JSON 503 at once and is closed, before it can send anything.

JSON errors. A request that h11 cannot parse — a malformed request line or header, or a head
over h11's 16 KiB limit — never reaches the app: uvicorn answers it with a text/plain 400. Here
that reply is a JSON ``{"detail": ...}`` with the app's security headers, like every other error.

These hook into uvicorn's ``H11Protocol`` (uvicorn 0.32: ``connection_made``, ``data_received``,
``handle_events``, ``on_response_complete``, ``connection_lost``, ``send_400_response``);
tests/serve/test_connections.py checks them against a real server, so an uvicorn upgrade that
changes these methods fails there.
"""

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from scratchml.serve.security import SECURITY_HEADERS

SEND_GRACE_S = 5.0  # beyond the body's and the request's timeouts, for a reply to reach its client
BUSY = json.dumps({"detail": "the server has too many open connections; retry in a moment"}).encode()
BAD_REQUEST = json.dumps({"detail": "the request could not be parsed: a malformed request line or header, "
                                    "or a request head (URL and headers) over 16 KiB"}).encode()


def protocol_for(max_connections: int, reply_timeout: float) -> type["Protocol"]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    return type("Protocol", (Protocol,), {"max_connections": max_connections, "reply_timeout": reply_timeout})


class Protocol(H11Protocol):
    max_connections = 1000
    reply_timeout = 60.0
    _head_timer: asyncio.TimerHandle | None = None
    _reply_timer: asyncio.TimerHandle | None = None
    _reply_cycle = None
    _refused = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)  # counts this connection in self.connections
        if len(self.connections) > self.max_connections:
            self._refused = True
            # No request has arrived, so h11 cannot frame a reply: the bytes are written as they are.
            head = [b"HTTP/1.1 503 Service Unavailable", b"content-type: application/json",
                    b"content-length: %d" % len(BUSY), b"connection: close", b"retry-after: 5",
                    *[b"%s: %s" % (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]]
            self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + BUSY)
            self.transport.close()
            return
        self._expect_head()

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # a refused connection's request is never read, let alone answered
            super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self._answering():
            self._cancel_head_timer()
            if self._reply_cycle is not self.cycle:  # a new request: its reply's clock starts
                self._cancel_reply_timer()
                self._reply_cycle = self.cycle
                self._reply_timer = self.loop.call_later(self.reply_timeout, self._reply_overdue)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_reply_timer()
        if not self.transport.is_closing() and not self._answering():
            self._expect_head()

    def connection_lost(self, exc) -> None:
        self._cancel_head_timer()
        self._cancel_reply_timer()
        super().connection_lost(exc)

    def _cancel_reply_timer(self) -> None:
        if self._reply_timer is not None:
            self._reply_timer.cancel()
            self._reply_timer = None

    def _reply_overdue(self) -> None:
        self._reply_timer = None
        if self._answering():
            self.transport.abort()  # close() would wait for a client that does not read

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
