"""Entry point of the ``scratchml`` command.

Each system registers its sub-commands from its own module (``register(subparsers)``) and keeps heavy
imports (torch, matplotlib) inside the handlers, so ``scratchml --help`` stays instant. A handler
returns normally on success; a ``ScratchMLError`` (or a refusal from the file system, ``OSError``)
becomes one line on stderr and exit status 1.

Standard streams. What a command prints on stdout is its result, so losing it is an error, never a
silent success:
- a closed stdout (``>&-``) is refused before the command starts;
- a write or flush that fails (``> /dev/full``, a vanished disk) stops the command with one line; the
  last flush happens here, inside the error handling, not at interpreter exit;
- a broken pipe is told apart by whether stdout had already taken some output. The first write is
  flushed at once to find out: if the pipe took it, the reader was there and chose to stop (``| head``),
  and the command ends quietly with status 0; if the reader was gone before the first byte (``| true``),
  all the output was lost, and that is an error;
- a closed stdin (``<&-``) is an error for a command that reads it, and nothing for one that does not.
"""

import argparse
import importlib
import io
import logging
import os
import sys

from scratchml import __version__
from scratchml.errors import ScratchMLError

# Modules under scratchml.cli that define ``register(subparsers)``.
COMMAND_MODULES = ["mnist", "bpe", "nmt", "rag", "llm", "rlhf"]
# Optional dependencies, by the extra that installs them: the NumPy network needs none.
EXTRAS = {"torch": "nmt", "safetensors": "nmt", "sacrebleu": "nmt", "fastapi": "serve", "uvicorn": "serve"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchml", description="Machine learning from first principles.")
    parser.add_argument("--version", action="version", version=f"scratchml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"scratchml.cli.{name}").register(sub)
    return parser


def _say(line: str) -> None:
    """Print to stderr, or nowhere when it is closed: ``print(file=None)`` would write to stdout, into
    the command's output."""
    if sys.stderr is not None:
        print(line, file=sys.stderr)


class _StderrHandler(logging.Handler):
    """Log records of the ``scratchml`` loggers as ``scratchml: [warning: ]message`` on stderr
    (looked up at each record, so redirected or captured stderr is honoured)."""

    def emit(self, record):
        _say("scratchml: " + ("" if record.levelno < logging.WARNING else "warning: ") + record.getMessage())


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


class _ReaderLeft(Exception):
    """The reader of the stdout pipe stopped after taking some output (``| head``): not an error."""


class _Stdout:
    """Stands in for ``sys.stdout`` while a command runs, so that a failing stdout is reported as such:
    the OS error alone ("No space left on device") would not say which file failed. The first
    character is written and flushed on its own, so that ``delivered`` means the OS has taken some
    output (a longer first write could be cut by a broken pipe after part of it went through)."""

    def __init__(self, stream):
        self.stream = stream
        self.delivered = False
        self.failed = False

    def write(self, text: str) -> int:
        if text and not self.delivered:
            self._guard(self.stream.write, text[0])
            self._guard(self.stream.flush)
            self.delivered = True
            return 1 + self._guard(self.stream.write, text[1:])
        return self._guard(self.stream.write, text)

    def flush(self) -> None:
        self._guard(self.stream.flush)

    def _guard(self, operation, *args):
        try:
            return operation(*args)
        except BrokenPipeError:
            self.failed = True
            if self.delivered:
                raise _ReaderLeft from None
            raise ScratchMLError("cannot write to stdout: the reading end of the pipe was closed before "
                                 "any output (broken pipe)") from None
        except OSError as e:
            self.failed = True
            raise ScratchMLError(f"cannot write to stdout: {e.strerror or e}") from None

    def __getattr__(self, name):  # isatty, encoding, buffer, ...: the real stream's
        return getattr(self.stream, name)


class _ClosedStdin(io.TextIOBase):
    """Stands in for a closed stdin (``<&-``), where Python sets ``sys.stdin`` to None: reading it
    gives the one-line error instead of an AttributeError, in every command that reads stdin."""

    def _refuse(self, *args):
        raise ScratchMLError("stdin is closed: give the input as arguments, or redirect a file or a pipe to stdin")

    read = readline = readlines = __iter__ = __next__ = _refuse
    buffer = property(_refuse)


def _discard_stdout(stream) -> None:
    """After stdout failed, point its file descriptor at /dev/null: Python flushes stdout once more at
    exit, and the bytes still buffered would fail again and print "Exception ignored ..." after our
    one line. (A stream without a file descriptor, as in tests, has nothing to flush at exit.)"""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _run(argv: list[str], stdout: _Stdout | None) -> int:
    debug = os.environ.get("SCRATCHML_DEBUG", "") not in ("", "0")
    try:
        if stdout is None:
            raise ScratchMLError("stdout is closed, so the output would be lost: redirect it to a file "
                                 "(or to /dev/null to discard it)")
        args = build_parser().parse_args(argv)  # inside: --help and --version write to stdout too
        _setup_logging()
        _check_utf8(argv)
        args.func(args)
        stdout.flush()                           # a failure here is the command's, not the interpreter's
    except ScratchMLError as e:
        if debug:
            raise
        _say(f"scratchml: error: {e}")
        return 1
    except ModuleNotFoundError as e:
        if debug or e.name not in EXTRAS:
            raise
        _say(f"scratchml: error: this command needs {e.name}, which is not installed: "
             f"pip install 'scratchml[{EXTRAS[e.name]}]'")
        return 1
    except KeyboardInterrupt:
        _say("scratchml: interrupted")
        return 130
    except _ReaderLeft:  # `scratchml ... | head` took what it wanted
        return 0
    except OSError as e:  # the file system said no: unwritable folder, disk full, ...
        if debug:
            raise
        where = "".join(f": {name}" for name in (e.filename, e.filename2) if name)
        _say(f"scratchml: error: {e.strerror or e}{where}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    real_stdin, real_stdout = sys.stdin, sys.stdout
    stdout = None if real_stdout is None else _Stdout(real_stdout)
    sys.stdout = stdout
    if real_stdin is None:
        sys.stdin = _ClosedStdin()
    try:
        return _run(argv, stdout)
    finally:
        sys.stdin, sys.stdout = real_stdin, real_stdout
        if stdout is not None and not stdout.failed:
            try:    # after an error or an exit from argparse, output may still be buffered
                real_stdout.flush()
            except OSError:
                stdout.failed = True
        if stdout is not None and stdout.failed:
            _discard_stdout(real_stdout)


if __name__ == "__main__":
    sys.exit(main())
