"""scratchml: machine learning from first principles."""

__version__ = "0.1.0"
