"""The kNN datastore against faiss's exact L2 search: every cell probed is exact (alone, in groups
of queries, and with keys projected by scikit-learn's PCA), a few cells find most neighbours, added
memory entries are found at once, and a wrong or damaged store is refused."""

import json

import numpy as np
import pytest

from scratchml.errors import ScratchMLError
from scratchml.retrieve.datastore import Datastore

faiss = pytest.importorskip("faiss")


def clustered(n=3000, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d)) * 4
    return (centres[rng.integers(0, 20, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture
def store(tmp_path):
    keys = clustered()
    n = len(keys)
    examples = [{"source": f"s{i}", "target": f"t{i}"} for i in range(n // 10)]
    ds = Datastore.build(tmp_path / "ds", keys, np.arange(n) % 50, np.arange(n) // 10, examples, "model-A", nlist=32)
    return ds, keys.astype(np.float16).astype(np.float32)  # the store keeps float16 keys


def exact(keys, queries, k):
    index = faiss.IndexFlatL2(keys.shape[1])
    index.add(keys)
    return index.search(queries, k)


def test_probing_every_cell_is_exact_search(store):
    ds, keys = store
    queries = clustered(50, seed=1)
    got = ds.search(queries, k=8, nprobe=32)
    want_d, want_i = exact(keys, queries, 8)
    np.testing.assert_allclose(got.distances, want_d, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(got.values, want_i % 50)
    np.testing.assert_array_equal(got.origins, want_i // 10)


def test_groups_of_queries_probing_every_cell_are_exact(store):
    ds, keys = store
    queries = clustered(50, seed=1)
    got = ds.search(queries, k=8, nprobe=32, group=5)
    want_d, want_i = exact(keys, queries, 8)
    np.testing.assert_allclose(got.distances, want_d, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(got.values, want_i % 50)


def test_a_group_searches_the_cells_of_all_its_members(store):
    ds, _ = store
    queries = clustered(60, seed=4)
    alone, grouped = ds.search(queries, k=10, nprobe=2), ds.search(queries, k=10, nprobe=2, group=4)
    # a superset of each query's own cells: its k nearest can only come closer
    assert (grouped.distances <= alone.distances + 1e-4).all()
    assert (grouped.distances < alone.distances - 1e-4).any()
    with pytest.raises(ValueError, match="groups of 7"):
        ds.search(queries, k=10, group=7)


def test_projected_keys_are_searched_like_scikit_learns_pca(tmp_path):
    decomposition = pytest.importorskip("sklearn.decomposition")
    keys = clustered(n=2000)
    n = len(keys)
    # 64 points a cell: with 40 cells the PCA is fitted on every key, as scikit-learn's is
    ds = Datastore.build(tmp_path / "pca", keys, np.arange(n) % 50, np.arange(n) // 10, [{}] * (n // 10), "m",
                         nlist=40, components=6)
    ref = decomposition.PCA(6, svd_solver="full").fit(keys)
    assert ds.dim == 16 and ds.keys.shape == (n, 6)
    assert ds.meta["explained_variance"] == pytest.approx(ref.explained_variance_ratio_.sum(), abs=1e-4)
    queries = clustered(30, seed=5)
    projected = ref.transform(keys).astype(np.float16).astype(np.float32)
    want_d, want_i = exact(projected, ref.transform(queries).astype(np.float32), 5)
    for got in (ds.search(queries, k=5, nprobe=40), Datastore.load(tmp_path / "pca", "m").search(queries, k=5,
                                                                                                  nprobe=40)):
        np.testing.assert_allclose(got.distances, want_d, rtol=1e-3, atol=1e-2)
        np.testing.assert_array_equal(got.values, want_i % 50)
    ds.add(queries[:1], np.array([99]), [{"source": "mine"}], np.array([0]))  # states, projected on the way in
    assert ds.search(queries[:1], k=1).values[0, 0] == 99


def test_a_few_cells_find_most_neighbours(store):
    ds, keys = store
    queries = clustered(200, seed=2)
    got = ds.search(queries, k=10, nprobe=4)
    _, want_i = exact(keys, queries, 10)
    found = np.mean([len(set(a) & set(b)) / 10 for a, b in
                     zip(got.origins * 1000 + got.values, (want_i // 10) * 1000 + want_i % 50)])
    assert found > 0.9


def test_memory_entries_are_found_at_once_and_survive_reloading(store, tmp_path):
    ds, keys = store
    far = np.full((2, keys.shape[1]), 100.0, np.float32)
    ds.add(far, np.array([7, 8]), [{"source": "mine", "target": "mío"}], np.array([0, 0]))
    got = ds.search(far[:1] + 0.01, k=3)
    assert got.values[0, :2].tolist() == [7, 8] and got.origins[0, 0] == 300  # after the 300 main examples
    again = Datastore.load(tmp_path / "ds", "model-A")
    assert len(again) == len(keys) + 2 and again.examples[300] == {"source": "mine", "target": "mío"}
    assert again.search(far[:1], k=1).values[0, 0] == 7


def test_fewer_entries_than_k_are_padded(tmp_path):
    ds = Datastore.build(tmp_path / "small", clustered(5), np.arange(5), np.zeros(5, int), [{}], "m", nlist=1)
    got = ds.search(clustered(1, seed=3), k=8)
    assert np.isinf(got.distances[0, 5:]).all() and (got.values[0, 5:] == -1).all()


def test_another_model_or_a_damaged_store_is_refused(store, tmp_path):
    ds, _ = store
    with pytest.raises(ScratchMLError, match="another model"):
        Datastore.load(tmp_path / "ds", "model-B")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    (tmp_path / "ds" / "meta.json").write_text(json.dumps({**meta, "entries": 5}))
    with pytest.raises(ScratchMLError, match="do not match"):
        Datastore.load(tmp_path / "ds")
    (tmp_path / "ds" / "values.npy").write_bytes(b"junk")
    with pytest.raises(ScratchMLError, match="rebuild"):
        Datastore.load(tmp_path / "ds")
    with pytest.raises(ScratchMLError, match="no datastore"):
        Datastore.load(tmp_path / "nowhere")


def test_a_crash_while_adding_leaves_the_memory_as_it_was(store, tmp_path, monkeypatch):
    ds, keys = store
    ds.add(keys[:1], np.array([1]), [{"source": "first"}], np.array([0]))
    calls = []

    def dies(path, array):  # the process "dies" after writing the first array of the new memory
        if calls:
            raise KeyboardInterrupt
        calls.append(path)
        np.save(path, array)

    monkeypatch.setattr("scratchml.retrieve.datastore.save_npy", dies)
    with pytest.raises(KeyboardInterrupt):
        ds.add(keys[:2], np.array([2, 3]), [{"source": "second"}], np.array([0, 0]))
    again = Datastore.load(tmp_path / "ds", "model-A")
    assert len(again) == len(keys) + 1 and again.examples[-1] == {"source": "first"}
