"""Entry point of the ``scratchml`` command.

Each system registers its sub-commands from its own module (``register(subparsers)``) and keeps heavy
imports (torch, matplotlib) inside the handlers, so ``scratchml --help`` stays instant. A handler
returns normally on success; a ``ScratchMLError`` (or a refusal from the file system, ``OSError``)
becomes one line on stderr and exit status 1.
"""

import argparse
import importlib
import logging
import os
import sys

from scratchml import __version__
from scratchml.errors import ScratchMLError

# Modules under scratchml.cli that define ``register(subparsers)``.
COMMAND_MODULES = ["mnist", "bpe", "nmt"]
# Optional dependencies, by the extra that installs them: the NumPy network needs none.
EXTRAS = {"torch": "nmt", "safetensors": "nmt", "sacrebleu": "nmt", "fastapi": "serve", "uvicorn": "serve"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchml", description="Machine learning from first principles.")
    parser.add_argument("--version", action="version", version=f"scratchml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"scratchml.cli.{name}").register(sub)
    return parser


class _StderrHandler(logging.Handler):
    """Log records of the ``scratchml`` loggers as ``scratchml: [warning: ]message`` on stderr
    (looked up at each record, so redirected or captured stderr is honoured)."""

    def emit(self, record):
        prefix = "scratchml: " + ("" if record.levelno < logging.WARNING else "warning: ")
        print(prefix + record.getMessage(), file=sys.stderr)


def _setup_logging() -> None:
    logger = logging.getLogger("scratchml")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _check_utf8(argv: list[str]) -> None:
    """Python hands undecodable argv bytes over as lone surrogates (PEP 383): refuse them here,
    before they reach a tokenizer or a file name."""
    for n, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise ScratchMLError(f"argument {n} is not valid UTF-8") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    _setup_logging()
    debug = os.environ.get("SCRATCHML_DEBUG", "") not in ("", "0")
    try:
        _check_utf8(argv)
        args.func(args)
    except ScratchMLError as e:
        if debug:
            raise
        print(f"scratchml: error: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        if debug or e.name not in EXTRAS:
            raise
        print(f"scratchml: error: this command needs {e.name}, which is not installed: "
              f"pip install 'scratchml[{EXTRAS[e.name]}]'", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scratchml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `scratchml ... | head` closed the pipe: not an error
        sys.stderr.close()
        return 0
    except OSError as e:     # the file system said no: unwritable folder, disk full, ...
        if debug:
            raise
        where = "".join(f": {name}" for name in (e.filename, e.filename2) if name)
        print(f"scratchml: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
