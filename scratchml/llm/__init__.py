"""A GPT of our own: the model (``model.py``), its exchange with the GPT-2 checkpoint format of
Hugging Face ``transformers`` (``hf.py``)."""

from scratchml.llm.model import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
