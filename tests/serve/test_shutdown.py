"""Graceful shutdown under a real uvicorn server: a request in flight when the server is told to
stop still gets its answer, new connections are refused, and the batching worker ends."""

import threading

import httpx
import uvicorn

from scratchml.serve.app import create_app
from scratchml.serve.config import ServeConfig
from tests.serve.conftest import Gated, free_port, wait_until


def test_in_flight_requests_finish_after_the_stop_signal(translator):
    gated = Gated(translator)
    app = create_app(gated, ServeConfig(timeout_s=20))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False,
                                           timeout_graceful_shutdown=20, log_level="warning"))
    serving = threading.Thread(target=server.run)  # off the main thread: no signal handlers
    serving.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    url = f"http://127.0.0.1:{port}"

    gated.gate.clear()
    reply = {}
    client = threading.Thread(target=lambda: reply.update(
        r=httpx.post(f"{url}/v1/translate", json={"text": "in flight"}, timeout=30)))
    client.start()
    assert gated.entered.wait(10)  # the request is being decoded
    server.should_exit = True      # what uvicorn's SIGTERM / Ctrl+C handler does
    wait_until(lambda: not server.servers or all(not s.is_serving() for s in server.servers),
               what="the listening socket to close")
    try:
        refused = httpx.get(f"{url}/healthz", timeout=2)
    except httpx.ConnectError:
        refused = None
    gated.gate.set()
    client.join(15)
    serving.join(15)

    assert refused is None, "a new connection was accepted during shutdown"
    assert reply["r"].status_code == 200 and reply["r"].json()["translation"] == "IN FLIGHT"
    assert not serving.is_alive() and not app.state.batcher.running
