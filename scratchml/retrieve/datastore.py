"""A datastore for retrieval-augmented generation: (key vector → next token) pairs, searched by L2
distance (kNN-LM, Khandelwal et al. ICLR 2020; kNN-MT, Khandelwal et al. ICLR 2021).

Running a trained model over text with teacher forcing gives, at every position, the hidden state
the model predicts the next token from (the key) and the token that really came next (the value).
At generation time the model's current state is the query: its k nearest keys say which tokens
followed states like it in the stored text, and how close they were.

The store is a folder, memory-mapped and never pickled:

    meta.json       format, version, the model's fingerprint, sizes
    mean.npy, components.npy             optional: the PCA (pca.py) that maps a state (d,) to a key (r,)
    centroids.npy   (nlist, r) float32   k-means cells of the keys (kmeans.py), the IVF coarse quantizer
    keys.npy        (n, r) float16       the keys, sorted by cell (half the memory of float32)
    values.npy      (n,) int32           the token that followed each key
    origins.npy     (n,) int32           the example (sentence pair, document) each key came from
    offsets.npy     (nlist + 1,) int64   cell c holds rows offsets[c]:offsets[c+1]
    examples.jsonl  one JSON object per example, to show a person what was retrieved

Search looks in the ``nprobe`` cells nearest to the query (IVF, as vectors.py explains) and ranks by
squared L2 distance ‖q − k‖² = ‖q‖² − 2 q·k + ‖k‖², computed in float32. Keys of r < d dimensions
(the model's states projected on their r principal directions) make every search read d / r times
fewer bytes; queries are projected the same way.

A **memory** folder inside the store holds entries added later (a user's own translations): the same
arrays without cells, searched exactly, so an added entry is found at once without retraining the
cells. Each addition writes a new memory folder and swaps it in (files.swap_in): a process that dies
while adding leaves the old memory, never half of the new one.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scratchml.errors import ScratchMLError
from scratchml.files import swap_in, write_text_atomic
from scratchml.retrieve.kmeans import kmeans, nearest_centroid
from scratchml.retrieve.pca import PCA
from scratchml.retrieve.store import save_npy

FORMAT, VERSION = "scratchml.retrieve.Datastore", 1
ARRAYS = ("keys", "values", "origins")


@dataclass
class Neighbours:
    distances: np.ndarray  # (q, k) float32 squared L2, ascending; inf where fewer than k were found
    values: np.ndarray     # (q, k) int64 the stored next tokens; -1 where none
    origins: np.ndarray    # (q, k) int64 example ids (memory examples follow the main ones); -1 where none


def _load_npy(path: Path, mmap: bool | str = True) -> np.ndarray:
    """``mmap``: True maps the file read-only, "c" copy-on-write (writable in memory, never on disk)."""
    try:
        return np.load(path, mmap_mode=mmap if isinstance(mmap, str) else "r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise ScratchMLError(f"{path.parent}: the datastore is incomplete (no {path.name}); rebuild it") from None
    except ValueError as e:
        raise ScratchMLError(f"{path}: not a datastore array ({e}); rebuild it") from None


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (m, d) · b (n, d)ᵀ → (m, n) float32 on torch's threads, as pca.py explains."""
    return (torch.from_numpy(np.ascontiguousarray(a, np.float32)) @
            torch.from_numpy(np.ascontiguousarray(b, np.float32)).T).numpy()


def _l2_top_k(queries: np.ndarray, q_sq: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances (m, k') and columns of the k nearest rows of ``keys`` to each query, nearest first."""
    keys = np.asarray(keys, dtype=np.float32)
    d = q_sq[:, None] - 2.0 * _dot(queries, keys) + (keys * keys).sum(1)[None, :]  # (m, n)
    k = min(k, d.shape[1])
    cols = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
    vals = np.take_along_axis(d, cols, 1)
    order = np.argsort(vals, axis=1, kind="stable")
    return np.maximum(np.take_along_axis(vals, order, 1), 0.0), np.take_along_axis(cols, order, 1)


def _nearest(dist: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest of each row of candidate distances (q, c) and their rows, nearest first."""
    best = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, best, 1), np.take_along_axis(rows, best, 1)


class Datastore:
    def __init__(self, path: Path, meta: dict, arrays: dict[str, np.ndarray], memory: dict[str, np.ndarray],
                 examples: list[dict], pca: PCA | None = None):
        self.path, self.meta, self.examples, self.pca = path, meta, examples, pca
        self.centroids, self.offsets = np.array(arrays["centroids"]), arrays["offsets"]  # small: in memory
        self.keys, self.values, self.origins = arrays["keys"], arrays["values"], arrays["origins"]
        self.memory = memory
        self._c_sq = (self.centroids * self.centroids).sum(1)
        # torch reads the memory-mapped float16 keys in place (copy-on-write: nothing is ever written)
        # and converts the rows a search needs far faster than NumPy; the squared norms ‖k‖² of the
        # L2 expansion are computed once here
        self._keys_t = torch.from_numpy(self.keys)
        self._key_sq = torch.cat([self._keys_t[s:s + 65536].float().square().sum(1)
                                  for s in range(0, max(len(self.keys), 1), 65536)])

    # ---- building ---------------------------------------------------------------------------

    @classmethod
    def build(cls, path, keys: np.ndarray, values: np.ndarray, origins: np.ndarray, examples: list[dict],
              fingerprint: str, nlist: int | None = None, components: int | None = None, seed: int = 0,
              info: dict | None = None) -> "Datastore":
        """Cells by k-means on (a sample of) ``keys`` (n, d), every key filed in its cell; written
        to the folder ``path`` atomically. ``fingerprint`` names the model and tokenizer the keys
        came from: ``load`` refuses the store for any other. With ``components`` r < d the keys are
        first projected on their r principal directions, fitted on the same sample."""
        keys = np.asarray(keys)
        n = len(keys)
        if n == 0 or keys.ndim != 2 or values.shape != (n,) or origins.shape != (n,):
            raise ScratchMLError(f"a datastore needs n keys (n, d) with n values and origins, got {keys.shape}, "
                                 f"{values.shape}, {origins.shape}")
        dim = keys.shape[1]
        nlist = min(n, nlist or max(1, min(4096, int(4 * np.sqrt(n)))))  # faiss's rule of thumb: 4-16 √n cells
        # 64 points per cell and 10 rounds: cells only need to be roughly even for a search that probes several
        sample = keys[np.sort(np.random.default_rng(seed).permutation(n)[:64 * nlist])].astype(np.float32)
        pca = PCA.fit(sample, components) if components and components < dim and len(sample) > 1 else None
        if pca is not None:
            sample = pca(sample)
            keys = np.concatenate([pca(keys[s:s + 65536]) for s in range(0, n, 65536)])
        centroids = kmeans(sample, nlist, iterations=10, seed=seed, max_points_per_centroid=64)
        cell = np.concatenate([nearest_centroid(keys[s:s + 65536].astype(np.float32), centroids)[0]
                               for s in range(0, n, 65536)])
        order = np.argsort(cell, kind="stable")
        offsets = np.r_[0, np.cumsum(np.bincount(cell, minlength=len(centroids)))].astype(np.int64)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        save_npy(tmp / "centroids.npy", centroids.astype(np.float32))
        if pca is not None:
            save_npy(tmp / "mean.npy", pca.mean)
            save_npy(tmp / "components.npy", pca.components)
        save_npy(tmp / "offsets.npy", offsets)
        save_npy(tmp / "keys.npy", keys[order].astype(np.float16))
        save_npy(tmp / "values.npy", values[order].astype(np.int32))
        save_npy(tmp / "origins.npy", origins[order].astype(np.int32))
        write_text_atomic(tmp / "examples.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples))
        meta = {"format": FORMAT, "version": VERSION, "fingerprint": fingerprint, "entries": n, "dim": dim,
                "key_dim": int(keys.shape[1]), "explained_variance": None if pca is None else round(pca.explained, 4),
                "nlist": len(centroids), "examples": len(examples), **(info or {})}
        write_text_atomic(tmp / "meta.json", json.dumps(meta, indent=1))
        swap_in(tmp, path)
        return cls.load(path, fingerprint)

    # ---- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path, fingerprint: str | None = None) -> "Datastore":
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScratchMLError(f"{path}: no datastore here (no meta.json)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ScratchMLError(f"{path}/meta.json: not a datastore ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ScratchMLError(f"{path}: not a datastore of this scratchml version; rebuild it")
        if fingerprint is not None and meta.get("fingerprint") != fingerprint:
            raise ScratchMLError(f"{path} was built with another model or tokenizer "
                                 f"({meta.get('fingerprint')}, not {fingerprint}): rebuild it for this model")
        arrays = {name: _load_npy(path / f"{name}.npy", mmap="c" if name == "keys" else True)
                  for name in ("centroids", "offsets", *ARRAYS)}
        n, d, r = meta["entries"], meta["dim"], meta.get("key_dim", meta["dim"])
        pca = None
        if r != d:
            pca = PCA(np.asarray(_load_npy(path / "mean.npy", mmap=False)),
                      np.asarray(_load_npy(path / "components.npy", mmap=False)), meta.get("explained_variance"))
        ok = (arrays["keys"].shape == (n, r) and arrays["values"].shape == arrays["origins"].shape == (n,)
              and arrays["centroids"].shape == (meta["nlist"], r) and arrays["offsets"].shape == (meta["nlist"] + 1,)
              and arrays["offsets"][-1] == n
              and (pca is None or pca.mean.shape == (d,) and pca.components.shape == (d, r)))
        if not ok:
            raise ScratchMLError(f"{path}: the datastore's arrays do not match its meta.json; rebuild it")
        examples = [json.loads(line) for line in (path / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
        memory = {name: np.asarray(_load_npy(path / "memory" / f"{name}.npy", mmap=False)) for name in ARRAYS} \
            if (path / "memory" / "keys.npy").exists() else \
            {"keys": np.empty((0, r), np.float16), "values": np.empty(0, np.int32), "origins": np.empty(0, np.int32)}
        if (path / "memory" / "examples.jsonl").exists():
            examples += [json.loads(line) for line in
                         (path / "memory" / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
        return cls(path, meta, {k: arrays[k] for k in arrays}, memory, examples, pca)

    def __len__(self) -> int:
        return len(self.values) + len(self.memory["values"])

    @property
    def dim(self) -> int:
        """The width of the states the store takes (its keys are narrower when projected)."""
        return self.meta["dim"]

    def project(self, states: np.ndarray) -> np.ndarray:
        """Model states (q, d) → keys (q, r) float32."""
        return np.ascontiguousarray(states, dtype=np.float32) if self.pca is None else self.pca(states)

    # ---- the memory -------------------------------------------------------------------------

    def add(self, keys: np.ndarray, values: np.ndarray, examples: list[dict], example_of_key: np.ndarray) -> None:
        """Add entries to the memory: model states ``keys`` (n, d), ``example_of_key`` numbers each
        key's example within ``examples``."""
        base = len(self.examples)
        old = (self.path / "memory" / "examples.jsonl")
        old_examples = old.read_text(encoding="utf-8") if old.exists() else ""
        memory = {"keys": np.concatenate([self.memory["keys"], self.project(keys).astype(np.float16)]),
                  "values": np.concatenate([self.memory["values"], np.asarray(values, np.int32)]),
                  "origins": np.concatenate([self.memory["origins"], base + np.asarray(example_of_key, np.int32)])}
        tmp = self.path / "memory.tmp"
        tmp.mkdir(exist_ok=True)
        for name, array in memory.items():
            save_npy(tmp / f"{name}.npy", array)
        write_text_atomic(tmp / "examples.jsonl", old_examples + "".join(
            json.dumps(e, ensure_ascii=False) + "\n" for e in examples))
        swap_in(tmp, self.path / "memory")
        self.examples = self.examples + examples  # a new list, then the arrays that point into it
        self.memory = memory

    # ---- search -----------------------------------------------------------------------------

    def _search_cells(self, queries, q_sq, probe, k, cand_d, cand_row, budget: int = 1 << 22) -> None:
        """Fill cand_d/cand_row (q, nprobe, k) with the k nearest keys of each (query, probed cell).

        Each probed cell is read once, for all the queries that probe it. Cells are grouped into
        buckets of similar size and similar number of queries (powers of two), and each bucket is
        one batched matrix product of (cells, queries, d) by (cells, d, keys): a few large products
        instead of one small one per cell, whose Python overhead would cost more than the arithmetic.
        """
        q, nprobe = probe.shape
        queries_t, q_sq_t = torch.from_numpy(queries), torch.from_numpy(q_sq)
        flat = probe.ravel()  # pair p is (query p // nprobe, its rank p % nprobe)
        order = np.argsort(flat, kind="stable")
        cells, first, m = np.unique(flat[order], return_index=True, return_counts=True)
        lo = self.offsets[cells]
        size = self.offsets[cells + 1] - lo
        keep = size > 0
        cells, first, m, lo, size = cells[keep], first[keep], m[keep], lo[keep], size[keep]
        bucket = np.ceil(np.log2(m)).astype(np.int64) * 64 + np.ceil(np.log2(size)).astype(np.int64)
        for b in np.unique(bucket):
            members = np.flatnonzero(bucket == b)
            M, S = int(m[members].max()), int(size[members].max())
            step = max(1, budget // (S * queries.shape[1]))  # cells per product: bounded memory
            for c in range(0, len(members), step):
                u = members[c:c + step]
                j = np.arange(M)
                pairs = order[np.minimum(first[u, None] + j, len(order) - 1)]  # (U, M)
                q_ok = j[None, :] < m[u, None]
                i = np.arange(S)
                rows = lo[u, None] + np.minimum(i[None, :], size[u, None] - 1)  # (U, S)
                k_ok = i[None, :] < size[u, None]
                flat_rows = torch.from_numpy(rows.ravel())
                keys = self._keys_t.index_select(0, flat_rows).float().view(len(u), S, -1)  # (U, S, d)
                qi = torch.from_numpy(pairs // nprobe)
                d = (q_sq_t[qi][:, :, None] - 2.0 * torch.bmm(queries_t[qi], keys.transpose(1, 2))
                     + self._key_sq.index_select(0, flat_rows).view(len(u), 1, S))  # (U, M, S)
                d.masked_fill_(~torch.from_numpy(k_ok)[:, None, :], float("inf"))
                kk = min(k, S)
                dist, cols = torch.topk(d, kk, dim=-1, largest=False, sorted=True)  # (U, M, kk)
                found_rows = torch.gather(torch.from_numpy(rows)[:, None, :].expand(-1, M, -1), 2, cols)
                sel = torch.from_numpy(q_ok)  # the real (cell, query) slots
                p = pairs[q_ok]
                dist = dist[sel].clamp(min=0).numpy()
                cand_d[p // nprobe, p % nprobe, :kk] = dist
                cand_row[p // nprobe, p % nprobe, :kk] = np.where(np.isfinite(dist), found_rows[sel].numpy(), -1)

    def _search_groups(self, queries, q_sq, probe, k, group, budget: int = 1 << 23):
        """(distances (q, k), rows (q, k)): each run of ``group`` queries searches the union of the
        cells its members probe, scored for all of them by one matrix product.

        The hypotheses of one sentence in a beam search share most of their cells, so reading a
        group's cells once serves all its queries. Groups are sorted by how many keys they read and
        batched, similar sizes together, into one padded (groups, keys, r) product each.
        """
        q, nprobe = probe.shape
        n_groups, r = q // group, queries.shape[1]
        cells = np.sort(probe.reshape(n_groups, group * nprobe), axis=1)
        lo = self.offsets[cells]
        size = self.offsets[cells + 1] - lo
        size[:, 1:][cells[:, 1:] == cells[:, :-1]] = 0  # a cell probed by several members is read once
        total = size.sum(1)  # (G,) keys each group reads
        dist, rows = np.full((q, k), np.inf, np.float32), np.full((q, k), -1, np.int64)
        queries_t = torch.from_numpy(queries).view(n_groups, group, r)
        q_sq_t = torch.from_numpy(q_sq).view(n_groups, group, 1)
        order = np.argsort(total, kind="stable")
        width = total[order]
        start = 0
        while start < n_groups:
            cost = np.arange(1, n_groups - start + 1) * np.maximum(width[start:], 1) * r  # padded floats per chunk
            end = start + max(1, int(np.searchsorted(cost, budget, side="right")))
            u, S = order[start:end], int(width[end - 1])
            start = end
            if S == 0:
                continue
            # the rows each group reads, laid out in a (U, S) grid padded with row 0
            sz, gsz = size[u].ravel(), total[u]
            within = np.arange(sz.sum()) - np.repeat(np.cumsum(sz) - sz, sz)  # position inside its cell
            src = np.repeat(lo[u].ravel(), sz) + within
            g = np.repeat(np.arange(len(u)), gsz)
            at = np.arange(len(src)) - np.repeat(np.cumsum(gsz) - gsz, gsz)
            grid, valid = np.zeros((len(u), S), np.int64), np.zeros((len(u), S), bool)
            grid[g, at], valid[g, at] = src, True
            flat = torch.from_numpy(grid.ravel())
            keys = self._keys_t.index_select(0, flat).float().view(len(u), S, r)  # (U, S, r)
            ut = torch.from_numpy(u)
            d = (q_sq_t[ut] - 2.0 * torch.bmm(queries_t[ut], keys.transpose(1, 2))
                 + self._key_sq.index_select(0, flat).view(len(u), 1, S))  # (U, group, S)
            d.masked_fill_(~torch.from_numpy(valid)[:, None, :], float("inf"))
            kk = min(k, S)
            best, cols = torch.topk(d, kk, dim=-1, largest=False, sorted=True)  # (U, group, kk)
            found = torch.gather(torch.from_numpy(grid)[:, None, :].expand(-1, group, -1), 2, cols)
            mine = (u[:, None] * group + np.arange(group)).ravel()
            best = best.clamp(min=0).reshape(-1, kk).numpy()
            dist[mine, :kk] = best
            rows[mine, :kk] = np.where(np.isfinite(best), found.reshape(-1, kk).numpy(), -1)
        return dist, rows

    def search(self, queries: np.ndarray, k: int = 16, nprobe: int = 16, group: int = 1) -> Neighbours:
        """The k stored keys nearest to each model state of ``queries`` (q, d), from the ``nprobe``
        nearest cells and the memory. With ``group`` g > 1, each run of g consecutive queries (the
        hypotheses of one sentence) searches the union of its members' cells: every query sees at
        least its own nprobe cells, and a cell is read once per group."""
        if group < 1 or len(queries) % group:
            raise ValueError(f"{len(queries)} queries do not form groups of {group}")
        # in float32 even inside a model's bfloat16 autocast: bfloat16's 8-bit mantissa would blur
        # distances that differ in the third digit
        with torch.autocast("cpu", enabled=False):
            return self._search(queries, k, nprobe, group)

    def _search(self, queries: np.ndarray, k: int, nprobe: int, group: int) -> Neighbours:
        queries = self.project(queries)
        q = len(queries)
        q_sq = (queries * queries).sum(1)
        nprobe = min(nprobe, len(self.centroids))
        cell_d = self._c_sq[None, :] - 2.0 * _dot(queries, self.centroids)  # (q, nlist), up to ‖q‖²
        probe = np.argpartition(cell_d, nprobe - 1, axis=1)[:, :nprobe] if nprobe < cell_d.shape[1] else \
            np.tile(np.arange(cell_d.shape[1]), (q, 1))
        if group > 1:
            dist, rows = self._search_groups(queries, q_sq, probe, k, group)
        else:
            cand_d = np.full((q, nprobe, k), np.inf, dtype=np.float32)
            cand_row = np.full((q, nprobe, k), -1, dtype=np.int64)
            self._search_cells(queries, q_sq, probe, k, cand_d, cand_row)
            dist, rows = _nearest(cand_d.reshape(q, -1), cand_row.reshape(q, -1), k)
        memory = self.memory  # one snapshot: ``add`` may swap in a new memory meanwhile
        if len(memory["values"]):  # memory rows are stored negative, as ~row
            mem_d, cols = _l2_top_k(queries, q_sq, memory["keys"], k)
            dist, rows = _nearest(np.concatenate([dist, mem_d], 1), np.concatenate([rows, ~cols], 1), k)
        found = np.isfinite(dist)
        main, mem = found & (rows >= 0), found & (rows < 0)
        values, origins = np.full(rows.shape, -1, np.int64), np.full(rows.shape, -1, np.int64)
        values[main], origins[main] = self.values[rows[main]], self.origins[rows[main]]
        values[mem], origins[mem] = memory["values"][~rows[mem]], memory["origins"][~rows[mem]]
        return Neighbours(dist, values, origins)
