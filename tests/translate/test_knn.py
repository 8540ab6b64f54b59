"""kNN-MT on a tiny random translator: the datastore's keys do not depend on batching, λ = 0 is plain
decoding, a datastore that holds a pair makes pure retrieval reproduce its translation (what a
translation memory needs), and a datastore far from every query leaves the model alone."""

import numpy as np
import pytest

from scratchml.errors import ScratchMLError
from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import KNNSettings, fingerprint
from scratchml.translate.knn import KNN, teacher_forced_keys
from tests.serve.conftest import tiny_translator

SOURCES = ["The cat sees the dog.", "How are you today?", "I would like a cup of coffee, please."]
TARGETS = ["El gato ve al perro.", "¿Cómo estás hoy?", "Quisiera una taza de café, por favor."]


@pytest.fixture(scope="module")
def tr():
    return tiny_translator()


def encode(tr, texts):
    return [tr.tokenizer.encode(t) for t in texts]


def store_of(tr, tmp_path, sources=SOURCES, targets=TARGETS, components=None):
    keys, values, origins = teacher_forced_keys(tr.model, encode(tr, sources), encode(tr, targets), progress=False)
    examples = [{"source": s, "target": t} for s, t in zip(sources, targets)]
    return Datastore.build(tmp_path / "ds", keys, values, origins, examples, fingerprint(tr.model, tr.tokenizer),
                           nlist=2, components=components)


def test_keys_do_not_depend_on_the_batch(tr):
    src, tgt = encode(tr, SOURCES), encode(tr, TARGETS)
    together = teacher_forced_keys(tr.model, src, tgt, progress=False)
    alone = [teacher_forced_keys(tr.model, [s], [t], progress=False) for s, t in zip(src, tgt)]
    assert len(together[0]) == sum(len(t) + 1 for t in tgt)  # every target token and <eos>
    for i, (k, v, _) in enumerate(alone):
        rows = together[2] == i
        np.testing.assert_allclose(together[0][rows].astype(np.float32), k.astype(np.float32), atol=2e-3)
        np.testing.assert_array_equal(together[1][rows], v)
        np.testing.assert_array_equal(v, tgt[i] + [tr.cfg.eos_id])


@pytest.mark.parametrize("beam", [1, 3])
def test_lambda_zero_is_plain_decoding(tr, tmp_path, beam):
    knn = KNN(store_of(tr, tmp_path), KNNSettings(lambda_max=0.0))
    assert tr.translate(SOURCES, beam=beam, knn=knn) == tr.translate(SOURCES, beam=beam)


@pytest.mark.parametrize("beam, components", [(1, None), (4, None), (4, 8)])
def test_pure_retrieval_reproduces_a_stored_translation(tr, tmp_path, beam, components):
    plain = tr.translate(SOURCES, beam=beam, normalize=False)
    assert plain != TARGETS  # random weights: the model alone does not know them
    knn = KNN(store_of(tr, tmp_path, components=components), KNNSettings(lambda_max=1.0, k=4, temperature=0.01))
    assert tr.translate(SOURCES, beam=beam, knn=knn, normalize=False) == TARGETS


def test_a_far_datastore_leaves_the_model_alone(tr, tmp_path):
    ds = store_of(tr, tmp_path)
    knn = KNN(ds, KNNSettings(lambda_max=0.9, sigma=1e-3))  # λ vanishes at any real distance
    other = ["A red house.", "The big tree runs."]
    assert tr.translate(other, beam=2, knn=knn) == tr.translate(other, beam=2)


def test_a_datastore_of_another_model_is_refused(tr, tmp_path):
    store_of(tr, tmp_path)
    other = tiny_translator(seed=1)
    with pytest.raises(ScratchMLError, match="another model"):
        Datastore.load(tmp_path / "ds", fingerprint(other.model, other.tokenizer))
    with pytest.raises(ScratchMLError, match="temperature"):
        KNN(store_of(tr, tmp_path), KNNSettings(temperature=0))


def test_a_memory_pair_is_used_at_once_and_kept(tr, tmp_path):
    from scratchml.translate.memory import TranslationMemory

    ds = store_of(tr, tmp_path)
    memory = TranslationMemory(tr, ds)
    pair = ("The dog sees a tree.", "El perro ve un árbol.")
    assert tr.translate(pair[0]) != pair[1]
    assert memory.add([pair, pair]) == 1 and memory.add([pair]) == 0
    assert memory.translate([pair[0], "  " + pair[0] + " "]) == [pair[1], pair[1]]
    again = TranslationMemory(tr, Datastore.load(tmp_path / "ds", fingerprint(tr.model, tr.tokenizer)))
    assert len(again) == 1 and again.translate([pair[0]]) == [pair[1]]
    assert len(again.datastore) == len(ds)  # the pair's tokens are in the datastore's memory too


def test_a_cached_store_of_another_key_width_is_rebuilt(tr, tmp_path, monkeypatch):
    from scratchml.translate import datastore

    monkeypatch.setenv("SCRATCHML_CACHE", str(tmp_path))
    monkeypatch.setattr(datastore, "tatoeba_training_pairs", lambda: list(zip(SOURCES, TARGETS)))
    monkeypatch.setattr(datastore, "KEY_COMPONENTS", 8)
    cached = datastore.cache_root() / fingerprint(tr.model, tr.tokenizer)
    datastore.build(tr, cached, list(zip(SOURCES, TARGETS)), progress=False, nlist=2, components=None)
    assert Datastore.load(cached).meta["key_dim"] == tr.cfg.d_model  # what an older scratchml wrote
    assert datastore.load_or_build(tr, progress=False).meta["key_dim"] == 8
    assert datastore.load_or_build(tr, progress=False).meta["key_dim"] == 8  # and kept from then on
