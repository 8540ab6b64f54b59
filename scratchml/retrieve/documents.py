"""Your own documents as passages: find the files, read them, cut them into overlapping passages.

A retriever returns *passages*, not whole files: a 40-page manual matches almost any query a little,
while the paragraph that answers it matches strongly, and a reader wants to be shown that paragraph.
So every document is cut into windows of about ``words`` words (DPR cuts Wikipedia into 100-word
passages; Karpukhin et al. 2020), and a dense encoder reads a bounded number of tokens anyway:
all-MiniLM-L6-v2 reads 256 word pieces, about 190 English words, so 150 words and a title fit whole.

Consecutive passages *overlap*, so that a fact cut by one boundary is whole in the neighbouring
passage. Boundaries fall between sentences where possible (sentence-aware chunking):

- a passage ends at the last sentence end in its second half; with none there (one very long
  sentence), it ends after exactly ``words`` words;
- the next passage starts ``overlap`` words before that end, moved forward to the first sentence
  start within those words when there is one. So consecutive passages share at most ``overlap``
  words, and usually whole sentences.

Sentences are found by a simple rule, not a model: ``.``, ``!`` or ``?`` (and any closing quotes or
brackets) before whitespace, a blank line, and the line breaks around Markdown headings and list
items. Abbreviations ("e.g. this") make a false boundary; that costs a slightly earlier cut, nothing
worse.

Files: ``.txt`` and ``.md`` are one document each; a ``.jsonl`` file holds one document per line,
a JSON object with a ``"text"`` and optionally an ``"id"`` (or BEIR's ``"_id"``) and a ``"title"``.
Each passage remembers where it came from: the file, the line its text begins on, its number in the
document and its character offsets in the document's text, so a result can be opened at that place.
"""

import bisect
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scratchml.errors import ScratchMLError

SUFFIXES = (".txt", ".md", ".markdown", ".jsonl")
INDEX_MARKER = "scratchml-index.json"  # a folder holding it is a saved Library, never read as documents
CHUNK_WORDS, OVERLAP_WORDS = 150, 30

WORD = re.compile(r"\S+")
SENTENCE_END = re.compile(
    r"[.!?][\"')\]»”’]*(?=\s)"                       # closing punctuation, then whitespace
    r"|\n[ \t]*\n"                                   # a blank line (a paragraph ends)
    r"|\n(?=[ \t]*(?:#|[-*+>]\s|\d+[.)]\s))"         # a line break before a heading, list item or quote
    r"|^#.*$", re.MULTILINE)                         # the end of a Markdown heading line
MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass(frozen=True)
class SourceDocument:
    id: str                   # the file's absolute path, or a .jsonl record's id
    title: str
    text: str
    source: str               # the file it came from, as it was found
    record: int | None = None  # the line of a .jsonl record; None for a whole .txt/.md file

    def line_of(self, offset: int) -> int:
        """The line of the source file where character ``offset`` of the text lies (from 1)."""
        return self.record if self.record is not None else 1 + self.text.count("\n", 0, offset)

    @property
    def sha256(self) -> str:
        """Identifies the text: an index can tell a document it holds from a changed one."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Passage:
    id: str       # "<document id>#<number>"
    doc: str      # the document's id
    number: int   # its place in the document, from 1
    start: int    # character offsets of text in the document's text
    end: int
    line: int     # the line of the source file where it begins
    title: str
    source: str
    text: str

    @property
    def contents(self) -> str:
        """What a retriever indexes: the title, a space, the text (the layout of BEIR's baselines)."""
        return f"{self.title} {self.text}".strip()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of ``text``, surrounding whitespace left out."""
    cuts = [0, *(m.end() for m in SENTENCE_END.finditer(text)), len(text)]
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        words = list(WORD.finditer(text, a, b))
        if words:
            spans.append((words[0].start(), words[-1].end()))
    return spans


def chunk(text: str, words: int = CHUNK_WORDS, overlap: int = OVERLAP_WORDS) -> list[tuple[int, int]]:
    """(start, end) character offsets of the overlapping passages of ``text`` (see the module's notes)."""
    if words < 1 or not 0 <= overlap < words:
        raise ScratchMLError(f"a passage needs at least 1 word and an overlap of 0 to words - 1; got words={words}, "
                             f"overlap={overlap}")
    spans = [m.span() for m in WORD.finditer(text)]  # (start, end) of each word
    if not spans:
        return []
    word_starts = [a for a, _ in spans]
    # the numbers of the words that begin a sentence, ascending
    sentence_starts = sorted({bisect.bisect_left(word_starts, a) for a, _ in sentence_spans(text)})

    def sentence_starts_within(lo: int, hi: int) -> list[int]:  # lo <= word number <= hi
        return sentence_starts[bisect.bisect_left(sentence_starts, lo):bisect.bisect_right(sentence_starts, hi)]

    out, first = [], 0  # first: the number of the passage's first word
    while True:
        end = first + words  # one past its last word
        if end >= len(spans):
            out.append((spans[first][0], spans[-1][1]))
            return out
        # End before the last sentence start in the second half, but late enough for the next
        # passage to start after this one.
        found = sentence_starts_within(first + max(words // 2, overlap) + 1, end)
        end = found[-1] if found else end
        out.append((spans[first][0], spans[end - 1][1]))
        found = sentence_starts_within(end - overlap, end - 1)
        first = found[0] if found else end - overlap


def passages_of(doc: SourceDocument, words: int = CHUNK_WORDS, overlap: int = OVERLAP_WORDS) -> list[Passage]:
    """The passages of one document, numbered from 1."""
    return [Passage(f"{doc.id}#{n}", doc.id, n, a, b, doc.line_of(a), doc.title, doc.source, doc.text[a:b])
            for n, (a, b) in enumerate(chunk(doc.text, words, overlap), 1)]


def find_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The .txt, .md and .jsonl files among ``paths`` and in their folders (recursively, in name order),
    each once. Hidden files and folders (.git, .venv) and saved indexes are left out."""
    found: dict[Path, Path] = {}  # resolved path -> the path as found
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise ScratchMLError(f"{given}: no such file or folder")
        if path.is_dir():
            files = list(_walk(path))
            if not files:
                raise ScratchMLError(f"{given}: no {', '.join(SUFFIXES)} files in this folder")
        elif path.suffix.lower() in SUFFIXES:
            files = [path]
        else:
            raise ScratchMLError(f"{given}: not a {', '.join(SUFFIXES)} file")
        for f in files:
            found.setdefault(f.resolve(), f)
    return list(found.values())


def _walk(folder: Path):
    for root, dirs, names in os.walk(folder):
        if INDEX_MARKER in names:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                yield Path(root) / name


def read_documents(files: Iterable[Path]) -> tuple[list[SourceDocument], list[str]]:
    """(the documents of ``files``, a message for each file skipped). A file that is not UTF-8 text
    (a binary, another encoding) is skipped, so one stray file does not stop a folder; a .jsonl
    line that is not a document is an error, since the file is meant as data. Document ids must be
    unique: a second document under an id would be unreachable in the index."""
    docs, skipped, where = [], [], {}
    for path in files:
        text = _decode(path.read_bytes())
        if text is None:
            skipped.append(f"{path}: skipped, not UTF-8 text")
            continue
        found = _read_jsonl(path, text) if path.suffix.lower() == ".jsonl" else [_read_file(path, text)]
        for doc in found:
            place = f"{path}:{doc.record}" if doc.record else str(path)
            if doc.id in where:
                raise ScratchMLError(f"duplicate document id {doc.id!r}: {where[doc.id]} and {place}")
            where[doc.id] = place
        docs += found
    return docs, skipped


def _decode(data: bytes) -> str | None:
    if b"\0" in data:  # UTF-8 text never holds a NUL byte; binaries nearly always do
        return None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, which some editors write, is not text
    except UnicodeDecodeError:
        return None


def _read_file(path: Path, text: str) -> SourceDocument:
    heading = MD_HEADING.search(text) if path.suffix.lower() in (".md", ".markdown") else None
    return SourceDocument(str(path.resolve()), heading.group(1) if heading else path.stem, text, str(path))


def _read_jsonl(path: Path, text: str) -> list[SourceDocument]:
    docs = []
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ScratchMLError(f"{path}:{n}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ScratchMLError(f'{path}:{n}: expected a JSON object with a "text" string')
        doc_id = row.get("id", row.get("_id"))
        if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, str | int)):
            raise ScratchMLError(f'{path}:{n}: "id" must be a string or a number')
        doc_id = f"{path.resolve()}:{n}" if doc_id is None else str(doc_id)
        title = row.get("title") if isinstance(row.get("title"), str) else ""
        docs.append(SourceDocument(doc_id, title or doc_id, row["text"], str(path), record=n))
    return docs
