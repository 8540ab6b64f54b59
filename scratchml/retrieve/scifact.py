"""BEIR SciFact: 5,183 scientific abstracts, and claims to find the abstracts that support or refute.

SciFact (Wadden et al., "Fact or Fiction: Verifying Scientific Claims", EMNLP 2020) as packaged in
BEIR (Thakur et al., "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information
Retrieval Models", NeurIPS 2021 Datasets and Benchmarks): a query is a claim ("0-dimensional
biomaterials show inductive properties."), and the qrels mark the abstracts that hold its evidence,
about 1.1 per query, all with relevance 1. BEIR evaluates on the 300 test claims; the 809 training
claims are for tuning.

Files (``SCRATCHML_DATA/scifact``, see ``scratchml.data.registry``): ``corpus.jsonl`` (one
``{"_id", "title", "text"}`` per line), ``queries.jsonl`` (``{"_id", "text", ...}``) and
``qrels/{test,train}.tsv`` (``query-id<TAB>corpus-id<TAB>score`` after a header line).
"""

import json
from dataclasses import dataclass

from scratchml.data import fetch
from scratchml.errors import ScratchMLError

SPLITS = ("test", "train")


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """What a retriever indexes: the title, a space, the abstract (as BEIR's baselines do)."""
        return f"{self.title} {self.text}".strip()


def _jsonl(name: str) -> list[dict]:
    path = fetch("scifact", name)
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ScratchMLError(f"{path} line {n}: not JSON ({e})") from None
    return rows


def load_corpus() -> list[Document]:
    """The 5,183 abstracts, in file order."""
    return [Document(str(row["_id"]), row.get("title", ""), row.get("text", "")) for row in _jsonl("corpus.jsonl")]


def load_qrels(split: str = "test") -> dict[str, dict[str, int]]:
    """{query id: {document id: relevance}} of ``split`` ("test": 300 queries, "train": 809)."""
    if split not in SPLITS:
        raise ScratchMLError(f"unknown SciFact split {split!r}; choose one of {', '.join(SPLITS)}")
    path = fetch("scifact", f"qrels/{split}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], 2):  # 1: the header
        fields = line.split("\t")
        if len(fields) != 3:
            raise ScratchMLError(f"{path} line {n}: expected 3 tab-separated fields, got {len(fields)}")
        query, doc, relevance = fields
        qrels.setdefault(query, {})[doc] = int(relevance)
    return qrels


def load_queries(split: str = "test") -> dict[str, str]:
    """{query id: claim} for the queries judged in ``split``, in the order of queries.jsonl."""
    judged = load_qrels(split)
    return {str(row["_id"]): row["text"] for row in _jsonl("queries.jsonl") if str(row["_id"]) in judged}
