"""Running the app under uvicorn: ``serve(model_dir, host, port, cfg, workers)``.

One worker process holds one model and one batching thread. With ``workers > 1`` uvicorn starts
that many processes sharing the listening socket; each builds its app through ``app_from_env``
from the settings passed in an environment variable (spawned processes cannot inherit Python
objects). On SIGTERM or Ctrl+C uvicorn stops accepting connections, lets the requests in flight
finish (up to the request timeout), then the app drains its queue and stops its worker.
"""

import json
import logging
import math
import os
import sys

from scratchml.serve.config import ServeConfig

ENV = "SCRATCHML_SERVE_SETTINGS"


def setup_logging() -> None:
    """Access and service lines on stderr, with a timestamp; once per process. The translator's
    warnings about long inputs (cut into pieces) are not logged: they are about a client's input,
    up to 64 lines per request, and a client could fill the log with them."""
    logging.getLogger("scratchml.translate").setLevel(logging.ERROR)
    logger = logging.getLogger("scratchml.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def build_app(model, cfg: ServeConfig):
    """Load the model directory (default: the shipped one) and make its app."""
    from scratchml.serve.app import create_app
    from scratchml.translate import Translator

    if cfg.threads:
        import torch
        torch.set_num_threads(cfg.threads)
    translator = Translator.load(model, bf16=cfg.bf16)
    # The directory's name only: a reply must not tell a client about the server's file system.
    info = {"name": translator.path.name, "precision": "bfloat16" if translator.bf16 else "float32"}
    if cfg.knn:
        from scratchml.translate import RetrievalTranslator, TranslationMemory, load_datastore

        memory = TranslationMemory(translator, load_datastore(translator, cfg.datastore))
        translator = RetrievalTranslator(translator, memory)
        info["knn"] = {"entries": len(memory.datastore), "memory_pairs": len(memory)}
    return create_app(translator, cfg, info)


def app_from_env():
    """The app factory each uvicorn worker process calls when ``workers > 1``."""
    setup_logging()
    settings = json.loads(os.environ[ENV])
    return build_app(settings.pop("model"), ServeConfig.from_dict(settings))


def uvicorn_options(cfg: ServeConfig, host: str, port: int) -> dict:
    """The settings of uvicorn's ``run``/``Config`` for ``cfg``."""
    from scratchml.serve.protocol import SEND_GRACE_S, protocol_for

    protocol = protocol_for(cfg.max_connections, cfg.body_timeout_s + cfg.timeout_s + SEND_GRACE_S)
    # In-flight requests end within their timeout; uvicorn waits 2 s more at most (see the docstring).
    return dict(host=host, port=port, access_log=False, server_header=False, http=protocol,
                timeout_keep_alive=cfg.idle_timeout_s, timeout_graceful_shutdown=math.ceil(cfg.timeout_s) + 2)


def serve(model=None, host: str = "127.0.0.1", port: int = 8000, cfg: ServeConfig | None = None,
          workers: int = 1) -> None:
    import uvicorn

    cfg = (cfg or ServeConfig()).with_host(host)
    setup_logging()
    if "*" not in cfg.allowed_hosts and host in ("0.0.0.0", "::", ""):
        logging.getLogger("scratchml.serve").warning(
            "listening on all interfaces: requests are answered only for the host names %s; add the names "
            "clients use with --allowed-hosts", ", ".join(cfg.allowed_hosts))
    options = uvicorn_options(cfg, host, port)
    if workers > 1 and cfg.knn:
        from scratchml.errors import ScratchMLError

        raise ScratchMLError("--knn serves one translation memory: run it with --workers 1")
    if workers > 1:
        from scratchml.translate import Translator

        Translator.load(model)  # a bad model: one clear error here, not one per worker
        os.environ[ENV] = json.dumps({"model": str(model) if model else None, **cfg.to_dict()})
        uvicorn.run("scratchml.serve.server:app_from_env", factory=True, workers=workers, **options)
    else:
        uvicorn.run(build_app(model, cfg), **options)  # a bad model fails here, before binding the port
