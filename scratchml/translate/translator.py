"""Text in, text out: tokenization, batching by length, decoding, and input limits."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from scratchml.errors import ScratchMLError
from scratchml.shipped import model_dir
from scratchml.transformer import use_bf16
from scratchml.translate.checkpoint import load_model_dir
from scratchml.translate.decode import decode_sorted
from scratchml.translate.first_word import source_texts
from scratchml.translate.normalize import Style, prepare, restore
from scratchml.translate.sentences import split_sentences

log = logging.getLogger("scratchml.translate")

# Length penalty α of beam search (GNMT, Wu et al. 2016), chosen on the validation split: below
# about 1.5 the beam prefers translations that are too short (docs/translate.md, "Measured").
LENGTH_PENALTY = 2.0
# Wider beams cost memory in proportion (beam x batch hypotheses, each with a KV cache); 64 is far
# past the widths that were measured (4 and 8) and keeps a typo such as --beam 4000 from exhausting memory.
MAX_BEAM = 64


@dataclass
class Prepared:
    """Texts made ready for the model (``Translator.prepare``): each text's style (normalize.py)
    and its pieces as source ids. ``Translator.finish`` turns the pieces' outputs back into text.
    Splitting the two lets a caller such as the server count tokens before accepting a request,
    and decode the pieces of many requests in an order of its choosing."""
    texts: list[str]               # each text as prepared (normalized)
    styles: list[Style]
    segments: list[list[list[int]]]  # for each text, the source ids of its pieces

    @property
    def pieces(self) -> list[list[int]]:
        """Every piece of every text, in order: what ``translate_ids`` takes."""
        return [piece for segs in self.segments for piece in segs]

    @property
    def text_tokens(self) -> list[int]:
        """Source tokens of each text: what decoding it will cost grows with them."""
        return [sum(map(len, segs)) for segs in self.segments]


class Translator:
    def __init__(self, model, tokenizer, meta: dict | None = None, bf16: bool | None = None):
        self.model, self.tokenizer, self.meta = model.eval(), tokenizer, meta or {}
        self.device = next(model.parameters()).device
        self.bf16 = use_bf16(self.device, bf16)            # bfloat16 only where it is native
        self.cfg = model.cfg
        self.path = None  # the model directory, when loaded from one
        self.max_source_tokens = self.cfg.max_len - 1  # room for <eos>
        # How the model was trained to read an English sentence's first word (first_word.py).
        self.first_word = (self.meta.get("train") or {}).get("first_word", "as-written")

    @classmethod
    def load(cls, path=None, bf16: bool | None = None) -> "Translator":
        """The model directory ``path``, or the shipped en-es model (``scratchml.shipped``)."""
        path = model_dir("en-es", path)
        if not path.exists():
            raise ScratchMLError(f"model directory {path} does not exist")
        translator = cls(*load_model_dir(path), bf16=bf16)
        translator.path = path
        return translator

    # ---- input preparation ----------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        return self.encode_sources([text])[0]

    def encode_sources(self, texts: list[str]) -> list[list[int]]:
        """Token ids of English sentences, in the form the model was trained on."""
        # allow_special=False: "<eos>" in user text is just text
        return self.tokenizer.encode_batch(source_texts(self.tokenizer, texts, self.first_word), allow_special=False)

    def segment(self, text: str, split: bool = True) -> list[list[int]]:
        """Token ids of ``text`` in pieces the model can take: its sentences (sentences.py), or with
        ``split=False`` the whole text while it fits; a piece longer than ``max_source_tokens`` is cut
        into chunks of that size as a last resort (with a warning)."""
        ids = self._encode(text)
        if len(ids) > self.max_source_tokens:
            log.warning("input of %d tokens is longer than the model's %d: translating it sentence by sentence",
                        len(ids), self.max_source_tokens)
        elif not split:
            return [ids]
        pieces = []
        for sentence in split_sentences(text):
            sid = self._encode(sentence)
            if len(sid) > self.max_source_tokens:
                log.warning("a sentence of %d tokens was cut into pieces of %d", len(sid), self.max_source_tokens)
            while len(sid) > self.max_source_tokens:  # no sentence boundary: cut into chunks
                pieces.append(sid[:self.max_source_tokens])
                sid = sid[self.max_source_tokens:]
            if sid:
                pieces.append(sid)
        return pieces

    # ---- decoding -------------------------------------------------------------------------

    @torch.no_grad()
    def translate_ids(self, sources: list[list[int]], beam: int = 4, max_length: int | None = None,
                      batch_size: int = 64, alpha: float = LENGTH_PENALTY, progress: bool = False,
                      should_stop: Callable[[], bool] | None = None, knn=None) -> list[list[int]]:
        """Decode lists of source ids (see ``decode.decode_sorted``; ``should_stop`` can cancel it
        between two steps with ``decode.DecodingCancelled``; ``knn``: a ``knn.KNN`` for kNN-MT)."""
        if not 1 <= beam <= MAX_BEAM:
            raise ScratchMLError(f"beam must be within 1..{MAX_BEAM}, got {beam}")
        return decode_sorted(self.model, sources, beam, alpha, batch_size, max_length, self.bf16, progress,
                             should_stop, knn)

    def prepare(self, texts: list[str], normalize: bool = True, split: bool = True) -> Prepared:
        """Normalize and tokenize ``texts`` into the pieces the model decodes (see ``translate``)."""
        prepared = [prepare(t) if normalize else (t, Style()) for t in texts]
        segments = [self.segment(t, split) if t.strip() and not style.verbatim else [] for t, style in prepared]
        return Prepared([t for t, _ in prepared], [style for _, style in prepared], segments)

    def finish(self, prepared: Prepared, hyps: list[list[int]]) -> list[str]:
        """The text of each prepared text from the output ids of its pieces (``prepared.pieces`` order)."""
        hyps = iter(hyps)
        outputs = []
        for segs, text, style in zip(prepared.segments, prepared.texts, prepared.styles):
            joined = " ".join(self.tokenizer.decode(next(hyps), skip_special=True).strip() for _ in segs)
            outputs.append(text if style.verbatim else restore(joined, style))
        return outputs

    def translate(self, texts: list[str] | str, beam: int = 4, max_length: int | None = None,
                  batch_size: int = 64, alpha: float = LENGTH_PENALTY, progress: bool = False,
                  normalize: bool = True, split: bool = True,
                  should_stop: Callable[[], bool] | None = None, knn=None) -> list[str] | str:
        """Spanish for each English text (a str gives a str). Empty input gives empty output.
        ``normalize``: give each text the training sentences' capital and closing mark, and take them
        off the translation again (see normalize.py). ``split``: translate sentence by sentence
        (sentences.py); a text too long for the model is split either way. ``progress``: a progress
        bar on stderr, counting sentences. ``should_stop``: asked before each decoding step; True
        raises ``decode.DecodingCancelled``. ``knn``: decode with a datastore (knn.py, kNN-MT)."""
        single = isinstance(texts, str)
        prepared = self.prepare([texts] if single else list(texts), normalize, split)
        hyps = self.translate_ids(prepared.pieces, beam, max_length, batch_size, alpha, progress, should_stop, knn)
        outputs = self.finish(prepared, hyps)
        return outputs[0] if single else outputs

    @torch.no_grad()
    def cross_attention(self, text: str, beam: int = 1, normalize: bool = True):
        """Source tokens, translated tokens, and cross-attention weights (layers, heads, T, S) of the
        translation of the text's first sentence, recomputed with teacher forcing on the decoded
        output. The tokens are the model's own, before ``restore`` (normalize.py) gives the
        translation the text's style."""
        source, style = prepare(text) if normalize else (text, Style())
        if not source.strip() or style.verbatim:
            raise ScratchMLError("cannot show attention for a sentence without a word to translate")
        src_ids = self.segment(source)[0]
        hyp = self.translate_ids([src_ids], beam=beam)[0]
        src = torch.tensor([src_ids + [self.cfg.eos_id]], device=self.device)
        tgt_in = torch.tensor([[self.cfg.bos_id] + hyp], device=self.device)
        self.model.keep_attention_weights(True)
        try:
            self.model(src, tgt_in)
            weights = torch.stack([layer.cross_attn.weights[0] for layer in self.model.decoder])
        finally:
            self.model.keep_attention_weights(False)
        # Row t of the weights is the query that produced output token t (the last one is </s>).
        source = [self.tokenizer.decode([i]) for i in src_ids] + ["</s>"]
        target = [self.tokenizer.decode([i]) for i in hyp] + ["</s>"]
        return source, target, weights.float().cpu()
