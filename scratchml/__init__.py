"""scratchml: machine learning from first principles."""

import os

# After each matrix product OpenBLAS's idle worker threads spin for 2^28 cycles (~0.1 s) before they
# sleep, holding the other cores while scratchml.nn's optimizer wants them for its own threads
# (measured: a training step 30-35 ms with 2^4, 45-50 ms with the default). OpenBLAS reads this once,
# when NumPy is first imported: import scratchml before numpy for it to count. A user's value wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
