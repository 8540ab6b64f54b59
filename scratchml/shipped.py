"""Where the models that ship with scratchml are.

The trained translator lives in ``models/<name>/`` at the root of the source checkout. A wheel carries
the same files as ``scratchml/models/<name>/`` (pyproject.toml maps the package ``scratchml.models``
to the ``models/`` folder), so ``pip install 'scratchml[nmt]'`` translates from any directory, and
an editable install or a plain checkout reads them where they are.

No torch here: a command can resolve a model's folder before it pays for importing the translator.
"""

import os
from pathlib import Path

from scratchml.errors import ScratchMLError

ENV_VAR = "SCRATCHML_MODELS"


def model_dir(name: str = "en-es", path: str | os.PathLike | None = None) -> Path:
    """The folder of the model ``name``, the first of:

    1. ``path``, when given (``--model DIR``), as it is: whoever reads it reports a missing file;
    2. ``$SCRATCHML_MODELS/<name>`` when the variable is set and not empty (then the folder must
       exist: a setting that names a wrong folder is an error, not a reason to load another model);
    3. the copy installed with the package, ``scratchml/models/<name>`` (how a wheel lays it out);
    4. the source checkout's ``models/<name>`` (an editable install, or running from a clone).

    Raises ``ScratchMLError`` when the variable names a missing folder or neither copy exists.
    """
    if path is not None:
        return Path(path)
    root = os.environ.get(ENV_VAR)
    if root:
        found = Path(root) / name
        if not found.is_dir():
            raise ScratchMLError(f"{ENV_VAR} is {root}, which has no model folder {name}/: "
                                 f"point it at a folder that holds {name}/, or unset it to use the shipped model")
        return found
    here = Path(__file__).resolve().parent
    candidates = [here / "models" / name, here.parent / "models" / name]
    for found in candidates:
        if found.is_dir():
            return found
    raise ScratchMLError(f"no model {name!r}: looked in {' and '.join(map(str, candidates))}; "
                         f"pass --model DIR, or set {ENV_VAR} to a folder that holds {name}/")
