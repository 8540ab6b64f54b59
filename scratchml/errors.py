"""One exception type for every error a user can fix.

The CLI prints a ``ScratchMLError`` as one line on stderr and exits with status 1; anything else is a
bug in scratchml and keeps its traceback.
"""


class ScratchMLError(Exception):
    """An error caused by input, files or settings — with a message that says how to fix it."""
