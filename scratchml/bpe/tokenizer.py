"""A byte-level BPE tokenizer: encode, decode, save and load.

Ids: 0–255 are the raw bytes, then one id per learned merge (256, 257, … in the order learned),
then the special tokens. ``vocab_size`` counts all of them.

Encoding a text (the same as HF tokenizers and tiktoken do with our exports):

1. Special tokens. Every occurrence of a special-token string in the text ("<eos>") becomes that
   token's id, matched whole, longest first; the text between them is ordinary text. Pass
   ``allow_special=False`` to encode them as ordinary text instead (for untrusted input).
2. Pre-tokenize the ordinary text with the regex of ``pretokenize.py``.
3. Each pre-token starts as its UTF-8 bytes; repeatedly apply the learned merge of lowest rank
   among its adjacent pairs (all its occurrences, left to right) until no pair has a merge.
   Results are cached per pre-token string: natural text repeats the same words all the time.

Decoding joins the bytes of the ids and decodes UTF-8 with U+FFFD for invalid sequences (a slice
of ids can cut a character in half), so it never fails on ids in range.
"""

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from scratchml.bpe.pretokenize import PATTERN, compile_pattern, pieces, special_splitter
from scratchml.bpe.train import train_merges
from scratchml.errors import ScratchMLError

FORMAT = "scratchml-bpe"
VERSION = 1
_CACHE_LIMIT = 500_000  # distinct pre-tokens kept before the cache starts afresh
_CACHE_MAX_CHARS = 64    # longer pre-tokens are rare in text and only fill the cache (random strings)
_NO_MERGE = 1 << 62


class UnknownSpecialToken(ScratchMLError, KeyError):
    """``tok.special_tokens["<nope>"]``: a ScratchMLError (clear message) that is also a KeyError."""

    def __str__(self):
        return self.args[0]


class SpecialTokens(dict):
    """name -> id; looking up a name that is not there raises ``UnknownSpecialToken``."""

    def __missing__(self, name):
        raise UnknownSpecialToken(f"unknown special token {name!r}; this tokenizer has "
                                  f"{', '.join(self) or 'none'}")


class Tokenizer:
    def __init__(self, merges: Sequence[tuple[int, int, int]], special_tokens: Sequence[str] = (),
                 pattern: str = PATTERN):
        """Build from merges (left id, right id, new id) in rank order; see ``train``/``load``."""
        vocab = [bytes([i]) for i in range(256)]
        id_of = {b: i for i, b in enumerate(vocab)}
        seen = set()
        for rank, (a, b, new) in enumerate(merges):
            if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
                raise ScratchMLError(f"merge {rank} ({a}, {b}) uses an id not defined before it")
            if (a, b) in seen:
                raise ScratchMLError(f"merge {rank} ({a}, {b}) appears twice")
            seen.add((a, b))
            merged = vocab[a] + vocab[b]
            expected = id_of.get(merged, len(vocab))
            if new != expected:
                raise ScratchMLError(f"merge {rank} ({a}, {b}) -> {new}: expected id {expected}")
            if new == len(vocab):
                vocab.append(merged)
                id_of[merged] = new
        specials = list(special_tokens)
        if len(set(specials)) != len(specials) or not all(isinstance(s, str) and s for s in specials):
            raise ScratchMLError(f"special tokens must be distinct non-empty strings, got {specials!r}")
        self.pattern = pattern
        self.merges = [tuple(m) for m in merges]
        self.special_tokens = SpecialTokens((s, len(vocab) + k) for k, s in enumerate(specials))
        self.num_base = len(vocab)  # bytes + merged tokens; ids from here on are special
        self._bytes = vocab + [s.encode("utf-8") for s in specials]  # id -> bytes, for decode
        self._ranks = {(a, b): rank for rank, (a, b, _) in enumerate(self.merges)}
        self._pat = compile_pattern(pattern)
        self._special_re = special_splitter(specials)
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def token_bytes(self, i: int) -> bytes:
        return self._bytes[i]

    # ---- training -----------------------------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int,
              special_tokens: Sequence[str] = ("<pad>", "<bos>", "<eos>"),
              progress: bool = True, pattern: str = PATTERN) -> "Tokenizer":
        """Learn merges from ``texts`` until there are ``vocab_size`` ids in all (see train.py).

        Special-token strings inside the texts are cut out, as ``encode`` does, so no merge spells
        across them. When the corpus runs out of pairs the vocabulary ends up smaller.
        """
        if isinstance(texts, str):
            raise ScratchMLError("texts must be an iterable of strings, not one string")
        special_tokens = list(special_tokens)
        if vocab_size < 256 + len(special_tokens):
            raise ScratchMLError(f"vocab_size {vocab_size} is too small: it includes the 256 bytes and "
                                 f"{len(special_tokens)} special tokens, so it must be at least "
                                 f"{256 + len(special_tokens)}")
        tok = cls([], special_tokens, pattern)  # validates the specials and the pattern
        counts: Counter[str] = Counter()  # each distinct pre-token once, with its frequency
        findall = tok._pat.findall
        for text in texts:
            for chunk, special in pieces(text, tok._special_re):
                if not special:
                    counts.update(findall(chunk))
        if not counts:
            raise ScratchMLError("cannot train a tokenizer on an empty corpus (no text was given)")
        merges, _ = train_merges(counts, vocab_size - len(special_tokens), progress)
        return cls(merges, special_tokens, pattern)

    # ---- encoding -----------------------------------------------------------------------------

    def _bpe(self, word: str) -> list[int]:
        """Merge the bytes of one pre-token, lowest rank first (as the merges were learned)."""
        ids = list(word.encode("utf-8"))
        rank_of, merges = self._ranks.get, self.merges
        while len(ids) > 1:
            ranks = [rank_of(p, _NO_MERGE) for p in zip(ids, ids[1:])]  # rank of each adjacent pair
            best = min(ranks)
            if best == _NO_MERGE:
                break
            new = merges[best][2]
            j = ranks.index(best)  # merge every occurrence of that pair, left to right
            out = ids[:j]
            while j < len(ids):
                if j + 1 < len(ids) and ranks[j] == best:  # same rank <=> same pair
                    out.append(new)
                    j += 2
                else:
                    out.append(ids[j])
                    j += 1
            ids = out
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        cache, out = self._cache, []
        for w in self._pat.findall(text):
            ids = cache.get(w)
            if ids is None:
                ids = self._bpe(w)
                if len(w) <= _CACHE_MAX_CHARS:
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[w] = ids
            out += ids
        return out

    def encode(self, text: str, allow_special: bool = True) -> list[int]:
        """Ids of ``text``; special-token strings in it become their ids unless ``allow_special=False``."""
        if not isinstance(text, str):
            raise ScratchMLError(f"encode expects a str, got {type(text).__name__}")
        special_re = self._special_re if allow_special else None
        if special_re is None or special_re.search(text) is None:  # the common case, kept fast
            return self._encode_ordinary(text)
        out: list[int] = []
        for chunk, special in pieces(text, special_re):
            if special:
                out.append(self.special_tokens[chunk])
            else:
                out += self._encode_ordinary(chunk)
        return out

    def encode_batch(self, texts: Sequence[str], allow_special: bool = True) -> list[list[int]]:
        encode = self.encode
        return [encode(t, allow_special) for t in texts]

    # ---- decoding -----------------------------------------------------------------------------

    def decode_bytes(self, ids: Sequence[int], skip_special: bool = False) -> bytes:
        table, n = self._bytes, len(self._bytes)
        ids = list(ids)
        try:
            if ids and (min(ids) < 0 or max(ids) >= n):  # a negative id would index from the end
                raise IndexError
            if skip_special:
                return b"".join([table[i] for i in ids if i < self.num_base])
            return b"".join([table[i] for i in ids])
        except (IndexError, TypeError):
            bad = next((i for i in ids if not (hasattr(i, "__index__") and 0 <= i < n)), ids)
            raise ScratchMLError(f"cannot decode id {bad!r}: ids must be integers in [0, {n})") from None

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """Text of ``ids``; invalid UTF-8 becomes U+FFFD. ``skip_special`` drops special tokens."""
        return self.decode_bytes(ids, skip_special).decode("utf-8", errors="replace")

    # ---- files --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "pattern": self.pattern,
                "special_tokens": dict(self.special_tokens), "merges": [list(m) for m in self.merges]}

    def save(self, path) -> None:
        """Write our JSON atomically (temp file + rename: a crash never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path) -> "Tokenizer":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ScratchMLError(f"cannot read tokenizer file {path}: {e}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ScratchMLError(f"{path}: not valid JSON ({e}); is the file truncated?") from None
        try:
            return cls.from_dict(d)
        except ScratchMLError as e:
            raise ScratchMLError(f"{path}: {e}") from None

    @classmethod
    def from_dict(cls, d) -> "Tokenizer":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ScratchMLError(f"not a scratchml BPE tokenizer (expected \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION:
            raise ScratchMLError(f"unsupported tokenizer version {d.get('version')!r} (expected {VERSION})")
        merges, specials, pattern = d.get("merges"), d.get("special_tokens"), d.get("pattern")
        if not isinstance(pattern, str):
            raise ScratchMLError("\"pattern\" must be a string")
        if not (isinstance(merges, list) and all(
                isinstance(m, list) and len(m) == 3 and all(type(x) is int for x in m) for m in merges)):
            raise ScratchMLError("\"merges\" must be a list of [left id, right id, new id]")
        if not (isinstance(specials, dict) and all(type(i) is int for i in specials.values())):
            raise ScratchMLError("\"special_tokens\" must map names to integer ids")
        names = sorted(specials, key=specials.get)
        tok = cls(merges, names, pattern)
        if tok.special_tokens != specials:
            raise ScratchMLError(f"special token ids {specials} must follow the {tok.num_base} byte "
                                 f"and merged tokens, consecutively")
        return tok

    def __repr__(self):
        return (f"Tokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={dict(self.special_tokens)})")
