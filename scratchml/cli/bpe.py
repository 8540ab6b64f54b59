"""``scratchml bpe``: train, encode, decode, export and inspect a byte-level BPE tokenizer.

    scratchml bpe train --vocab-size 10000 --out tok.json --dataset en-es   (or FILES, one text a line)
    scratchml bpe encode --tokenizer tok.json "Hola, ¿qué tal?"             (no TEXT: each stdin line)
    scratchml bpe decode --tokenizer tok.json 72 6314                      (no IDS: each stdin line)
    scratchml bpe export tok.json --format hf --out tokenizer.json
    scratchml bpe stats --tokenizer tok.json --dataset en-es
"""

import sys
from collections import Counter
from pathlib import Path

from scratchml.errors import ScratchMLError


def register(subparsers) -> None:
    p = subparsers.add_parser("bpe", help="byte-level BPE tokenizer: train, encode, decode, export, stats")
    sub = p.add_subparsers(dest="bpe_command", required=True, metavar="ACTION")

    t = sub.add_parser("train", help="learn a vocabulary from text files (one text a line) or a dataset")
    t.add_argument("files", nargs="*", type=Path, help="UTF-8 text files, one text per line")
    t.add_argument("--dataset", choices=["en-es"], help="train on both sides of en-es/spa.txt")
    t.add_argument("--vocab-size", type=int, default=10_000, help="total ids: 256 bytes + merges + specials")
    t.add_argument("--special-tokens", nargs="*", default=["<pad>", "<bos>", "<eos>"], metavar="TOKEN")
    t.add_argument("--out", type=Path, required=True, help="tokenizer JSON to write")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    e = sub.add_parser("encode", help="print the ids of TEXT (or of each stdin line), space-separated")
    e.add_argument("text", nargs="?", help="text to encode; without it, each line of stdin")
    e.add_argument("--tokenizer", type=Path, required=True)
    e.add_argument("--no-special", action="store_true", help="encode special-token strings as plain text")
    e.add_argument("--prepend", action="append", default=[], metavar="TOKEN",
                   help="special token to put first (repeatable), e.g. <bos>")
    e.add_argument("--append", action="append", default=[], metavar="TOKEN",
                   help="special token to put last (repeatable), e.g. <eos>")
    e.set_defaults(func=_encode)

    d = sub.add_parser("decode", help="print the text of IDS (or of each stdin line of ids)")
    d.add_argument("ids", nargs="*", help="ids to decode; without them, each line of stdin")
    d.add_argument("--tokenizer", type=Path, required=True)
    d.add_argument("--skip-special", action="store_true", help="leave special tokens out")
    d.set_defaults(func=_decode)

    x = sub.add_parser("export", help="write the tokenizer for HF tokenizers or tiktoken")
    x.add_argument("tokenizer", type=Path)
    x.add_argument("--format", choices=["hf", "tiktoken"], required=True)
    x.add_argument("--out", type=Path, required=True,
                   help="hf: tokenizer.json; tiktoken: ranks file (plus OUT.json with pattern and specials)")
    x.set_defaults(func=_export)

    s = sub.add_parser("stats", help="tokens per word per language, most used tokens, unused tokens")
    s.add_argument("files", nargs="*", type=Path, help="text files, one text a line (one column each)")
    s.add_argument("--dataset", choices=["en-es"], help="both columns of en-es/spa.txt")
    s.add_argument("--tokenizer", type=Path, required=True)
    s.add_argument("--top", type=int, default=15, help="how many most used tokens to list")
    s.set_defaults(func=_stats)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ScratchMLError(f"cannot read {path}: {e}") from None


def _columns(files: list[Path], dataset: str | None) -> dict[str, list[str]]:
    """Texts by language/column: en-es gives {"en": ..., "es": ...}; files give one column each."""
    if not files and not dataset:
        raise ScratchMLError("give text files or --dataset en-es")
    cols: dict[str, list[str]] = {}
    if dataset:
        from scratchml.data import fetch

        pairs = [line.split("\t") for line in _read_lines(fetch(dataset, "spa.txt"))]
        cols["en"] = [p[0] for p in pairs]
        cols["es"] = [p[1] for p in pairs if len(p) > 1]
    for f in files:
        cols[f.name] = _read_lines(f)
    return cols


def _train(args) -> None:
    from scratchml.bpe import Tokenizer

    texts = [t for col in _columns(args.files, args.dataset).values() for t in col]
    tok = Tokenizer.train(texts, args.vocab_size, args.special_tokens, progress=not args.no_progress)
    tok.save(args.out)
    print(f"wrote {args.out}: {tok.vocab_size} ids ({len(tok.merges)} merges, "
          f"special {dict(tok.special_tokens)}) from {len(texts)} texts", file=sys.stderr)


def _lines(arg):
    if arg is not None:
        yield arg
    else:
        for line in sys.stdin:
            yield line.rstrip("\r\n")


def _encode(args) -> None:
    from scratchml.bpe import Tokenizer

    tok = Tokenizer.load(args.tokenizer)
    first = [tok.special_tokens[s] for s in args.prepend]
    last = [tok.special_tokens[s] for s in args.append]
    out = sys.stdout
    for text in _lines(args.text):
        ids = first + tok.encode(text, allow_special=not args.no_special) + last
        out.write(" ".join(map(str, ids)) + "\n")


def _decode(args) -> None:
    from scratchml.bpe import Tokenizer

    tok = Tokenizer.load(args.tokenizer)
    for line in _lines(" ".join(args.ids) if args.ids else None):
        try:
            ids = [int(x) for x in line.split()]
        except ValueError:
            raise ScratchMLError(f"decode expects integer ids separated by spaces, got {line[:60]!r}") from None
        sys.stdout.write(tok.decode(ids, skip_special=args.skip_special) + "\n")


def _export(args) -> None:
    from scratchml.bpe import Tokenizer
    from scratchml.bpe.export import save_hf, save_tiktoken

    tok = Tokenizer.load(args.tokenizer)
    if args.format == "hf":
        save_hf(tok, args.out)
        print(f"wrote {args.out} (load with tokenizers.Tokenizer.from_file)", file=sys.stderr)
    else:
        save_tiktoken(tok, args.out)
        print(f"wrote {args.out} and {args.out}.json (load with scratchml.bpe.export.load_tiktoken)",
              file=sys.stderr)


def _stats(args) -> None:
    from scratchml.bpe import Tokenizer

    tok = Tokenizer.load(args.tokenizer)
    used: Counter = Counter()
    print(f"{tok!r}")
    print(f"{'column':<12} {'texts':>8} {'words':>9} {'tokens':>9} {'tokens/word':>11}")
    for name, texts in _columns(args.files, args.dataset).items():
        encoded = tok.encode_batch(texts)
        words = sum(len(t.split()) for t in texts)
        n = sum(map(len, encoded))
        for ids in encoded:
            used.update(ids)
        print(f"{name:<12} {len(texts):>8} {words:>9} {n:>9} {n / max(words, 1):>11.3f}")
    print("most used merged tokens:")
    merged = [(i, c) for i, c in used.most_common() if 256 <= i < tok.num_base][:args.top]
    for i, c in merged:
        print(f"  {i:>6} {tok.token_bytes(i).decode('utf-8', 'replace')!r:<20} {c}")
    unused = [i for i in range(256, tok.num_base) if i not in used]
    print(f"unused merged tokens: {len(unused)} of {tok.num_base - 256}"
          + (f", e.g. {[tok.token_bytes(i).decode('utf-8', 'replace') for i in unused[:10]]}" if unused else ""))
