"""Test-set scoring: sacrebleu's numbers on the translator's output, and the eval command's file."""

import json

import pytest

from scratchml.cli.main import main
from scratchml.translate import evaluate as evaluate_module
from scratchml.translate.evaluate import evaluate


class Echo:
    """A stand-in translator that returns fixed outputs."""

    def __init__(self, outputs):
        self.outputs = outputs

    def translate(self, texts, beam=4, batch_size=64, alpha=0.0, progress=False, normalize=True, split=True):
        self.normalize, self.split = normalize, split
        return self.outputs[:len(texts)]


def test_scores_are_sacrebleus(monkeypatch):
    import sacrebleu
    refs = ["El gato duerme en el sofá.", "¿Dónde está la estación?", "Me gusta leer libros."]
    hyps = ["El gato duerme en la cama.", "¿Dónde está la estación de tren?", "Me gusta leer."]
    monkeypatch.setattr(evaluate_module, "load_testset", lambda name: (["x", "y", "z"], refs))
    perfect = evaluate(Echo(refs), "tatoeba")
    assert perfect["bleu"] == 100.0 and perfect["chrf"] == 100.0 and perfect["sentences"] == 3
    result = evaluate(Echo(hyps), "tatoeba")
    assert result["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    assert result["chrf"] == round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)
    assert result["bleu_signature"].startswith("nrefs:1|case:mixed")
    first_two = evaluate(Echo(hyps), "tatoeba", limit=2)
    assert first_two["sentences"] == 2 and first_two["hypotheses"] == hyps[:2]
    assert first_two["bleu"] == round(sacrebleu.corpus_bleu(hyps[:2], [refs[:2]]).score, 2)
    raw = Echo(hyps)
    assert evaluate(raw, "tatoeba", normalize=False)["normalized"] is False and raw.normalize is False
    assert evaluate(raw, "tatoeba", split=False)["split_sentences"] is False and raw.split is False


@pytest.mark.dataset("en-es-test")
def test_eval_command_on_the_shipped_model(tmp_path, capsys):
    import sacrebleu

    from scratchml.data.cache import dataset_path
    rc = main(["nmt", "eval", "--testset", "tatoeba", "--beam", "1", "--limit", "40", "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    folder = dataset_path("en-es-test")
    refs = (folder / "tatoeba-test-v2020-07-28.spa").read_text(encoding="utf-8").splitlines()[:40]
    assert len(result["hypotheses"]) == 40
    assert result["bleu"] == round(sacrebleu.corpus_bleu(result["hypotheses"], [refs]).score, 2)
    assert result["bleu"] > 20  # the shipped model translates, not just runs


def test_valid_is_the_held_out_split_of_the_training_corpus(monkeypatch):
    from scratchml.translate import corpus
    from scratchml.translate.corpus import make_splits
    pairs = [(f"sentence number {i}.", f"frase número {i}.") for i in range(400)]
    monkeypatch.setattr(corpus, "load_pairs", lambda: pairs)
    valid = make_splits(pairs).valid
    assert 0 < len(valid) < len(pairs)
    result = evaluate(Echo([es for _, es in valid]), "valid")
    assert result["sentences"] == len(valid) and result["bleu"] == 100.0
