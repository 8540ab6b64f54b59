"""One exception type for every error a user can fix.

The CLI prints a ``ScratchMLError`` as one line on stderr and exits with status 1, and so it does
for an ``OSError`` (a folder that cannot be written, a full disk: the file system's own message says
what to fix). Anything else is a bug in scratchml and keeps its traceback; with ``SCRATCHML_DEBUG=1``
every error does.
"""


class ScratchMLError(Exception):
    """An error caused by input, files or settings — with a message that says how to fix it."""
