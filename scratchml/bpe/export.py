"""Export a Tokenizer to the formats the ecosystem loads: HF ``tokenizer.json`` and tiktoken.

Both give exactly our ids (tests/bpe/test_export.py checks every sentence of the en-es corpus).

HF tokenizers: a BPE model whose tokens are strings, so each byte is written as one printable
character with GPT-2's byte-to-unicode table (space → "Ġ", newline → "Ċ", printable ASCII as is);
the merges list keeps our rank order; the pre-tokenizer is our regex (Split, "isolated") followed
by ByteLevel without its own regex; special tokens are "added tokens", matched whole before
pre-tokenization, as ours are.

tiktoken: an ``Encoding`` from our pattern, ``mergeable_ranks`` = bytes of each token → its id,
and the special tokens. tiktoken merges the adjacent pair whose *concatenated bytes* have the
lowest rank; since our ids grow with the merge order, that is the merge we would apply too.
On disk it is tiktoken's ranks file (``base64(bytes) id`` per line) plus ``<file>.json`` with the
pattern and special tokens.
"""

import base64
import json
import os
import tempfile
from pathlib import Path

from scratchml.bpe.tokenizer import Tokenizer
from scratchml.errors import ScratchMLError


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: every byte → a printable character, so tokens are readable strings without
    spaces (HF's merges list separates the two halves of a merge with a space)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    others = [b for b in range(256) if b not in table]
    table.update({b: chr(256 + k) for k, b in enumerate(others)})
    return table


def to_hf(tok: Tokenizer) -> dict:
    """The tokenizer as a HF ``tokenizer.json`` object (``tokenizers.Tokenizer.from_str(json.dumps(...))``)."""
    b2u = bytes_to_unicode()
    name = ["".join(b2u[c] for c in tok.token_bytes(i)) for i in range(tok.num_base)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for s, i in tok.special_tokens.items()],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": tok.pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False,
                  "vocab": {s: i for i, s in enumerate(name)},
                  "merges": [f"{name[a]} {name[b]}" for a, b, _ in tok.merges]},
    }


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_hf(tok: Tokenizer, path) -> None:
    _write_atomic(Path(path), json.dumps(to_hf(tok), ensure_ascii=False, indent=1))


def mergeable_ranks(tok: Tokenizer) -> dict[bytes, int]:
    return {tok.token_bytes(i): i for i in range(tok.num_base)}


def to_tiktoken(tok: Tokenizer, name: str = "scratchml-bpe"):
    """A ``tiktoken.Encoding``; encode with ``allowed_special="all"`` to match ``tok.encode``."""
    try:
        import tiktoken
    except ImportError:
        raise ScratchMLError("tiktoken is not installed (pip install tiktoken==0.8.0)") from None
    return tiktoken.Encoding(name, pat_str=tok.pattern, mergeable_ranks=mergeable_ranks(tok),
                             special_tokens=dict(tok.special_tokens))


def save_tiktoken(tok: Tokenizer, path) -> None:
    """tiktoken's ranks file at ``path`` (``tiktoken.load.load_tiktoken_bpe`` reads it) and the
    pattern and special tokens in ``path.json``."""
    path = Path(path)
    lines = [f"{base64.b64encode(b).decode()} {i}\n" for b, i in mergeable_ranks(tok).items()]
    _write_atomic(path, "".join(lines))
    meta = {"name": path.stem, "pat_str": tok.pattern, "special_tokens": dict(tok.special_tokens),
            "mergeable_ranks": path.name}
    _write_atomic(path.with_name(path.name + ".json"), json.dumps(meta, ensure_ascii=False, indent=1))


def load_tiktoken(path):
    """The ``tiktoken.Encoding`` written by ``save_tiktoken``."""
    import tiktoken

    path = Path(path)
    try:
        meta = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
        ranks = {base64.b64decode(t): int(r) for t, r in
                 (line.split() for line in path.read_text(encoding="ascii").splitlines() if line)}
        return tiktoken.Encoding(meta["name"], pat_str=meta["pat_str"], mergeable_ranks=ranks,
                                 special_tokens=meta["special_tokens"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ScratchMLError(f"cannot load tiktoken export {path}: {e}") from None
