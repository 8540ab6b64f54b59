"""kNN-MT from the command line on a toy translator: build a datastore, translate with it, add a
translation memory (a bad line names itself and adds nothing), explain a translation."""

import json

import pytest

from scratchml.cli.main import main
from tests.translate.test_cli import model_dir, run  # noqa: F401 (model_dir is a fixture)

PAIRS = "the cat sees\tSEES CAT THE\na big dog\tDOG BIG A\n"


@pytest.fixture(scope="module")
def store(model_dir, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("knn")
    (folder / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    assert main(["nmt", "datastore", "--model", str(model_dir), "--pairs", str(folder / "pairs.tsv"),
                 "--out", str(folder / "ds"), "--nlist", "2"]) == 0
    return folder


def test_datastore_translate_and_explain(model_dir, store, capsys):  # noqa: F811
    rc, out, _ = run(["translate", "--model", str(model_dir), "--knn", "--datastore", str(store / "ds"), "the cat"],
                     capsys)
    assert rc == 0 and len(out.splitlines()) == 1
    rc, out, _ = run(["nmt", "neighbours", "the cat sees", "--model", str(model_dir), "--datastore",
                      str(store / "ds"), "--json"], capsys)
    result = json.loads(out)
    assert rc == 0 and result["steps"] and all(0 <= s["lambda"] <= 1 for s in result["steps"])
    assert result["steps"][0]["neighbours"][0]["source"] in ("the cat sees", "a big dog")


def test_memory_is_used_and_a_bad_line_adds_nothing(model_dir, store, capsys, tmp_path):  # noqa: F811
    (tmp_path / "mine.tsv").write_text("the red tree\tTREE RED THE\n", encoding="utf-8")
    args = ["translate", "--model", str(model_dir), "--datastore", str(store / "ds")]
    rc, out, err = run([*args, "--memory", str(tmp_path / "mine.tsv"), "the red tree"], capsys)
    assert rc == 0 and out == "TREE RED THE\n" and "1 new pairs" in err
    for bad, message in [("one column only\n", "line 1: expected English<TAB>Spanish"),
                         ("ok\tOK\n\tEMPTY\n", "line 2: the English side is empty"),
                         (b"ok\tOK\n\xff\tX\n", "line 2 is not UTF-8")]:
        (tmp_path / "bad.tsv").write_bytes(bad if isinstance(bad, bytes) else bad.encode())
        rc, _, err = run([*args, "--memory", str(tmp_path / "bad.tsv"), "ok"], capsys)
        assert rc == 1 and message in err and len(err.strip().splitlines()) == 1
    rc, out, err = run([*args, "--memory", str(tmp_path / "mine.tsv"), "the red tree"], capsys)
    assert out == "TREE RED THE\n" and "0 new pairs, 1 in all" in err  # the "ok" pairs were never added
