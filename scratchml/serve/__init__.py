"""The translator as a web service: an HTTP API with dynamic batching, and a page to try it.

    config.py    ServeConfig: limits, batching window, queue size, timeout
    batcher.py   the single decoding worker that merges requests arriving together into one batch
    schema.py    request/response models (validated strictly; they also make /openapi.json)
    accesslog.py one log line per request: method, path, status, latency
    app.py       the FastAPI application factory: routes, input checks, error replies
    page.html    the self-contained page served at /
    server.py    running it under uvicorn (one or several worker processes)
"""
