"""Reading text from stdin, shared by the commands that take one input per line."""

import sys

from scratchml.errors import ScratchMLError


def read_stdin_lines() -> list[str]:
    """Each line of stdin, decoded strictly: a wrong encoding is named by its line, not translated
    into mojibake. (A closed stdin is refused by ``cli.main``, for every command.)"""
    lines = []
    try:
        for n, raw in enumerate(sys.stdin.buffer, 1):
            try:
                lines.append(raw.decode("utf-8").rstrip("\r\n"))
            except UnicodeDecodeError as e:
                raise ScratchMLError(f"stdin line {n} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    except OSError as e:  # `< some/folder`, a terminal that went away: the OS error names no file
        raise ScratchMLError(f"cannot read stdin: {e.strerror or e}") from None
    return lines
