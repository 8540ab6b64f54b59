"""The translator as a web service: an HTTP API with dynamic batching, and a page to try it.

    config.py    ServeConfig: limits (in tokens), batching, queue size, timeouts, allowed hosts
    batcher.py   the single decoding worker: batching, short requests cutting in, cancelling, stopping
    schedule.py  which sentences the worker decodes next: turns between requests
    schema.py    request/response models (validated strictly; they also make /openapi.json)
    inputs.py    reading and checking a request: type, size, body deadline, JSON, schema, tokens
    security.py  security headers on every reply; the Host check against DNS rebinding
    accesslog.py one log line per request: client, method, path, status, latency
    app.py       the FastAPI application factory: routes, error replies, health
    page.html    the self-contained page served at /
    protocol.py  uvicorn's HTTP/1.1 protocol with a deadline for the request head and JSON 400s
    server.py    running it under uvicorn (one or several worker processes)
"""
