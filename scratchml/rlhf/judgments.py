"""People's judgments of preference pairs, kept in SQLite (``scratchml rlhf label``).

Two tables: ``pairs`` (the prompt and the two continuations to compare, with the simulated
annotator's verdict when the pair came from ``scratchml rlhf pairs``) and ``judgments`` (which pair,
the choice — "a", "b", "tie" or "skip" —, who judged it and when). Each judgment is committed on its
own, in write-ahead-log mode with ``synchronous=FULL``: once the page has been told "saved", the
judgment is on disk, and a server killed a moment later loses nothing.

An annotator judges each pair at most once: judging it again replaces the earlier choice (a person
who pressed the wrong key can go back), so agreement counts one vote per person and pair.
"""

import json
import sqlite3
import threading
import time
from pathlib import Path

from scratchml.errors import ScratchMLError
from scratchml.files import write_text_atomic

CHOICES = ("a", "b", "tie", "skip")
MAX_ANNOTATOR = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY,
    prompt TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
    simulated_choice TEXT, p_a REAL,
    UNIQUE (prompt, a, b));
CREATE TABLE IF NOT EXISTS judgments (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES pairs(id),
    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'skip')),
    annotator TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (pair_id, annotator));
"""


class JudgmentStore:
    """The SQLite file of pairs and judgments; safe to share between the server's threads."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ScratchMLError(f"{self.path}: not a judgment database ({e})") from None
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def add_pairs(self, pairs) -> int:
        """Add ``Pair``s not already present (same prompt and texts); returns how many were new."""
        rows = [(p.prompt, p.a, p.b, p.choice if p.annotator == "simulated" else None, p.p_a) for p in pairs]
        count = "SELECT COUNT(*) FROM pairs"
        with self.lock:
            before = self.db.execute(count).fetchone()[0]
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO pairs (prompt, a, b, simulated_choice, p_a) "
                                "VALUES (?, ?, ?, ?, ?)", rows)
            self.db.execute("COMMIT")
            return self.db.execute(count).fetchone()[0] - before

    def count_pairs(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]

    def judged_by(self, annotator: str) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM judgments WHERE annotator = ?", (annotator,)).fetchone()[0]

    def next_pair(self, annotator: str) -> dict | None:
        """The first pair ``annotator`` has not judged yet, or None when none is left."""
        with self.lock:
            row = self.db.execute(
                "SELECT id, prompt, a, b FROM pairs WHERE id NOT IN "
                "(SELECT pair_id FROM judgments WHERE annotator = ?) ORDER BY id LIMIT 1", (annotator,)).fetchone()
        return None if row is None else dict(zip(("pair_id", "prompt", "a", "b"), row))

    def judge(self, pair_id: int, choice: str, annotator: str) -> int:
        """Store one judgment (replacing this annotator's earlier one of the pair); returns its id."""
        if choice not in CHOICES:
            raise ScratchMLError(f"choice must be one of {', '.join(CHOICES)}")
        if not annotator.strip() or len(annotator) > MAX_ANNOTATOR:
            raise ScratchMLError(f"the annotator's name must have 1 to {MAX_ANNOTATOR} characters")
        with self.lock:
            if self.db.execute("SELECT 1 FROM pairs WHERE id = ?", (pair_id,)).fetchone() is None:
                raise KeyError(pair_id)
            cur = self.db.execute(
                "INSERT INTO judgments (pair_id, choice, annotator, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (pair_id, annotator) DO UPDATE SET choice = excluded.choice, created = excluded.created "
                "RETURNING id", (pair_id, choice, annotator.strip(), time.time()))
            return cur.fetchone()[0]

    def rows(self) -> list[dict]:
        """Every judgment with its pair, oldest first."""
        with self.lock:
            cur = self.db.execute(
                "SELECT j.id, p.prompt, p.a, p.b, j.choice, j.annotator, j.created, p.simulated_choice, p.p_a "
                "FROM judgments j JOIN pairs p ON p.id = j.pair_id ORDER BY j.created, j.id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def stats(self) -> dict:
        """Counts, and how often people agree with the simulated annotator: with its likelier choice
        (P(a) ≥ 1/2 → "a"), over the pairs a person preferred one side of and the simulation judged."""
        rows, pairs = self.rows(), self.count_pairs()
        decided = [r for r in rows if r["choice"] in ("a", "b") and r["p_a"] is not None]
        agree = sum((r["choice"] == "a") == (r["p_a"] >= 0.5) for r in decided)
        return {"pairs": pairs, "judgments": len(rows),
                "choices": {c: sum(r["choice"] == c for r in rows) for c in CHOICES},
                "annotators": len({r["annotator"] for r in rows}),
                "compared_with_simulated": len(decided),
                "agreement_with_simulated": round(agree / len(decided), 4) if decided else None}

    def jsonl(self) -> str:
        """Every judgment as a JSON line, in the format of ``scratchml rlhf pairs`` (so that ``rlhf
        reward --pairs`` reads it: ties and skips are kept, and left out of training)."""
        return "".join(json.dumps({"prompt": r["prompt"], "a": r["a"], "b": r["b"], "choice": r["choice"],
                                   "annotator": r["annotator"],
                                   "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["created"]))},
                                  ensure_ascii=False) + "\n" for r in self.rows())

    def export(self, path) -> int:
        """Write ``jsonl()`` to ``path`` atomically; returns the number of judgments."""
        text = self.jsonl()
        write_text_atomic(path, text)
        return text.count("\n")
