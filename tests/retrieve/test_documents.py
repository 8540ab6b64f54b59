"""Reading your own files and cutting them into passages: sentence boundaries, the chunking rule's
promises (every word covered, bounded length and overlap, cuts between sentences), where each passage
came from, and what is skipped or refused."""

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from scratchml.errors import ScratchMLError
from scratchml.retrieve.documents import INDEX_MARKER, chunk, find_files, passages_of, read_documents, sentence_spans


def sentences_of(text):
    return [text[a:b] for a, b in sentence_spans(text)]


def test_sentences_end_at_punctuation_blank_lines_headings_and_list_items():
    text = '# Cells\nCells divide. "They grow!" Do they?\n\nA list:\n- one item\n- two (items).\nEnd'
    assert sentences_of(text) == ["# Cells", "Cells divide.", '"They grow!"', "Do they?", "A list:",
                                  "- one item", "- two (items).", "End"]
    assert sentences_of("version 2.5 is out") == ["version 2.5 is out"]  # no space after the dot
    assert sentences_of("  \n ") == []


def numbered_words(n, sentence_every=7):
    """w0 w1 ... with a full stop after every ``sentence_every``-th word: known sentence starts."""
    return " ".join(f"w{i}" + ("." if i % sentence_every == sentence_every - 1 else "") for i in range(n))


@pytest.mark.parametrize("n, words, overlap", [(400, 50, 10), (400, 50, 0), (131, 20, 19), (10, 50, 10),
                                               (60, 1, 0), (300, 40, 30)])
def test_chunks_cover_every_word_with_bounded_length_and_overlap(n, words, overlap):
    text = numbered_words(n)
    pieces = [[int(w.strip(".")[1:]) for w in text[a:b].split()] for a, b in chunk(text, words, overlap)]
    assert pieces[0][0] == 0 and pieces[-1][-1] == n - 1
    for piece in pieces:
        assert piece == list(range(piece[0], piece[-1] + 1)) and len(piece) <= words
    for prev, nxt in zip(pieces, pieces[1:]):
        assert prev[0] < nxt[0] <= prev[-1] + 1, "each passage starts later, with no gap"
        assert prev[-1] - nxt[0] + 1 <= overlap


def test_chunks_end_and_start_at_sentence_boundaries_when_they_can():
    text = numbered_words(400)  # sentences of 7 words: w0..w6, w7..w13, ...
    spans = chunk(text, 50, 10)
    for a, b in spans[:-1]:
        assert text[a:b].endswith("."), text[a:b]
    for a, _ in spans:
        assert int(text[a:].split()[0][1:].strip(".")) % 7 == 0  # the first word of a sentence
    one_sentence = " ".join(["word"] * 120)  # no boundary at all: cut at exactly 50 words
    assert [len(one_sentence[a:b].split()) for a, b in chunk(one_sentence, 50, 10)] == [50, 50, 40]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["cell", "cells.", "dna!", "# Head\n", "\n\n", "- item\n", "x?", "  "]), max_size=60),
       st.integers(1, 12), st.data())
def test_chunks_of_any_text_keep_their_promises(tokens, words, data):
    overlap = data.draw(st.integers(0, words - 1))
    text = " ".join(tokens)
    word_spans = [m.span() for m in re.finditer(r"\S+", text)]
    first_word = {a: i for i, (a, _) in enumerate(word_spans)}
    last_word = {b: i for i, (_, b) in enumerate(word_spans)}
    pieces = [(first_word[a], last_word[b]) for a, b in chunk(text, words, overlap)]  # cut at word edges
    if not word_spans:
        assert pieces == []
        return
    assert pieces[0][0] == 0 and pieces[-1][1] == len(word_spans) - 1
    assert all(b - a + 1 <= words for a, b in pieces)
    for (a, b), (c, d) in zip(pieces, pieces[1:]):
        assert a < c <= b + 1 and b - c + 1 <= overlap and d > b


@pytest.mark.parametrize("words, overlap", [(0, 0), (10, 10), (10, -1)])
def test_impossible_chunk_settings_are_refused(words, overlap):
    with pytest.raises(ScratchMLError, match="overlap"):
        chunk("some text", words, overlap)


def test_passages_know_their_file_line_offsets_and_title(tmp_path):
    md = tmp_path / "notes.md"
    md.write_text("Intro line\n\n# Cell biology\n\n" + "\n".join(numbered_words(60).split(". ")) + "\n",
                  encoding="utf-8")
    (doc,), _ = read_documents([md])
    assert doc.title == "Cell biology" and doc.id == str(md.resolve()) and doc.source == str(md)
    cut = passages_of(doc, words=20, overlap=5)
    assert [p.number for p in cut] == list(range(1, len(cut) + 1)) and len(cut) > 2
    lines = md.read_text(encoding="utf-8").split("\n")
    for p in cut:
        assert p.id == f"{doc.id}#{p.number}" and p.title == "Cell biology"
        assert doc.text[p.start:p.end] == p.text
        assert p.text.split()[0] in lines[p.line - 1].split()  # the line the passage begins on


def test_txt_titles_are_the_file_name_and_a_byte_order_mark_is_not_text(tmp_path):
    (tmp_path / "coffee-notes.txt").write_bytes("\ufeffEspresso takes 25 seconds.".encode())
    (doc,), _ = read_documents(find_files([tmp_path]))
    assert doc.title == "coffee-notes" and doc.text == "Espresso takes 25 seconds."


def test_jsonl_records_are_documents_with_their_line(tmp_path):
    path = tmp_path / "faq.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "Hours", "text": "Open at 9.\nClosed on Sundays."}) + "\n\n"
                    + json.dumps({"_id": 7, "text": "Borrow ten books."}) + "\n"
                    + json.dumps({"text": "No id here."}) + "\n", encoding="utf-8")
    docs, skipped = read_documents([path])
    assert skipped == []
    assert [(d.id, d.title, d.record) for d in docs] == [("a", "Hours", 1), ("7", "7", 3),
                                                         (f"{path.resolve()}:4", f"{path.resolve()}:4", 4)]
    assert [p.line for p in passages_of(docs[0], words=3, overlap=0)] == [1, 1]  # a record is one line


@pytest.mark.parametrize("line, message", [
    ("{not json", r"faq.jsonl:2: not JSON"),
    ('{"title": "no text"}', r'faq.jsonl:2: expected a JSON object with a "text" string'),
    ('["a list"]', r'faq.jsonl:2: expected a JSON object'),
    ('{"id": [1], "text": "x"}', r'faq.jsonl:2: "id" must be a string or a number'),
    ('{"id": "a", "text": "again"}', r"duplicate document id 'a': .*faq.jsonl:1 and .*faq.jsonl:2"),
])
def test_bad_jsonl_lines_are_one_line_errors(tmp_path, line, message):
    path = tmp_path / "faq.jsonl"
    path.write_text('{"id": "a", "text": "first"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ScratchMLError, match=message):
        read_documents([path])


def test_binary_and_non_utf8_files_are_skipped_with_a_message(tmp_path):
    (tmp_path / "good.txt").write_text("fine text", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    docs, skipped = read_documents(find_files([tmp_path]))
    assert [d.title for d in docs] == ["good"]
    assert sorted(skipped) == [f"{tmp_path / 'image.txt'}: skipped, not UTF-8 text",
                               f"{tmp_path / 'latin1.md'}: skipped, not UTF-8 text"]


def test_folders_are_walked_in_order_without_hidden_files_or_indexes(tmp_path):
    for name in ["b.md", "a.txt", "sub/c.jsonl", "sub/d.pdf", ".hidden.txt", ".git/e.txt", "idx/passages.jsonl",
                 f"idx/{INDEX_MARKER}"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}", encoding="utf-8")
    found = find_files([tmp_path, tmp_path / "a.txt"])  # a file named twice is read once
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.txt", "b.md", "sub/c.jsonl"]


def test_paths_that_cannot_be_indexed_are_one_line_errors(tmp_path):
    with pytest.raises(ScratchMLError, match="absent: no such file or folder"):
        find_files([tmp_path / "absent"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScratchMLError, match=r"empty: no .txt, .md, .markdown, .jsonl files in this folder"):
        find_files([tmp_path / "empty"])
    (tmp_path / "paper.pdf").write_bytes(b"%PDF")
    with pytest.raises(ScratchMLError, match=r"paper.pdf: not a .txt, .md, .markdown, .jsonl file"):
        find_files([tmp_path / "paper.pdf"])
