"""Request and response bodies of the API.

Requests are validated in pydantic's strict mode from the raw JSON: ``"beam": true`` or
``"beam": 4.0`` is an error rather than silently 1 or 4, unknown keys are errors (a typo such as
``"txt"`` would otherwise be ignored), and lone UTF-16 surrogates (``"\\ud800"``) are refused by the
JSON parser. The request models are built per app because their limits come from its ServeConfig,
so ``/openapi.json`` states the limits the server really enforces. The token limits (after BPE)
are checked after the schema, with the tokenizer (inputs.py); the descriptions state them too.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from scratchml.serve.config import ServeConfig


def request_models(cfg: ServeConfig, longest_output: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """(TranslateRequest, AttentionRequest) enforcing ``cfg``'s limits; ``longest_output`` is the
    model's longest output in tokens."""
    Text = Annotated[str, StringConstraints(max_length=cfg.max_chars)]

    class TranslateRequest(BaseModel):
        """Either ``text`` (one string; the reply has ``translation``) or ``texts`` (a list; the
        reply has ``translations`` in the same order)."""
        model_config = ConfigDict(strict=True, extra="forbid")
        text: Text | None = Field(None, description=f"one English text, at most {cfg.max_chars} characters "
                                                    f"and {cfg.max_text_tokens} tokens")
        texts: list[Text] | None = Field(None, max_length=cfg.max_texts,
                                         description=f"up to {cfg.max_texts} texts of at most {cfg.max_chars} chars "
                                                     f"and {cfg.max_text_tokens} tokens each, "
                                                     f"{cfg.max_request_tokens} tokens together")
        beam: int = Field(cfg.default_beam, ge=1, le=cfg.max_beam, description="beam width (1: greedy)")
        max_length: int | None = Field(None, ge=1, le=longest_output,
                                       description="most output tokens per sentence (default: from the input length)")

        @model_validator(mode="after")
        def _one_of(self):
            if (self.text is None) == (self.texts is None):
                raise ValueError('give exactly one of "text" (a string) or "texts" (a list of strings)')
            return self

    class AttentionRequest(BaseModel):
        """One sentence (at most ``attention_max_tokens`` tokens); the reply has the cross-attention
        of its greedy translation."""
        model_config = ConfigDict(strict=True, extra="forbid")
        text: Annotated[str, StringConstraints(min_length=1, max_length=cfg.attention_max_chars)]

    return TranslateRequest, AttentionRequest


def retrieval_models(cfg: ServeConfig) -> tuple[type[BaseModel], type[BaseModel]]:
    """(MemoryRequest, NeighboursRequest) of a server started with ``--knn``."""
    Side = Annotated[str, StringConstraints(min_length=1, max_length=cfg.max_chars, pattern=r"\S")]

    class MemoryPair(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")
        source: Side = Field(description="an English sentence")
        target: Side = Field(description="its Spanish translation, as it should be given")

    class MemoryRequest(BaseModel):
        """Sentence pairs to add to the translation memory: used from the next request on."""
        model_config = ConfigDict(strict=True, extra="forbid")
        pairs: list[MemoryPair] = Field(min_length=1, max_length=cfg.memory_max_pairs)

    class NeighboursRequest(BaseModel):
        """One sentence: for each token of its translation, the stored examples retrieved and λ."""
        model_config = ConfigDict(strict=True, extra="forbid")
        text: Annotated[str, StringConstraints(min_length=1, max_length=cfg.attention_max_chars)]

    return MemoryRequest, NeighboursRequest


class Timing(BaseModel):
    queue_ms: float = Field(description="waiting for the worker")
    decode_ms: float = Field(description="from its first decoding call to its last (other requests' turns included)")
    total_ms: float = Field(description="from the request's arrival to its reply")


class Batch(BaseModel):
    requests: int = Field(description="requests in the decoding call that finished this one (itself included)")
    texts: int = Field(description="sentences in that call")


class TranslateResponse(BaseModel):
    translation: str | None = Field(None, description='present when the request had "text"')
    translations: list[str] | None = Field(None, description='present when the request had "texts"')
    beam: int
    timing: Timing
    batch: Batch


class AttentionResponse(BaseModel):
    translation: str
    source: list[str] = Field(description="source tokens, the last one </s>")
    target: list[str] = Field(description="output tokens, the last one </s>")
    weights: list[list[list[list[int]]]] = Field(description="[layer][head][target][source], in thousandths "
                                                             "(each row adds up to about 1000)")


class ErrorResponse(BaseModel):
    detail: str = Field(description="what was wrong, in words")


class Health(BaseModel):
    status: str = Field(description='"ok"; "degraded" (503) when saturated or stuck; "unavailable" (503)')
    problems: list[str] = Field(description="why it is degraded, in words")
    version: str
    limits: dict
    model: dict
    batching: dict
    queue: dict
