"""kNN-MT: translation that consults a datastore of the model's own states over known translations
(Khandelwal et al., "Nearest Neighbor Machine Translation", ICLR 2021).

**Datastore.** Teacher-forcing the translator over sentence pairs, every target position t gives a
key, the decoder's state when it predicted y_t — the input of the last decoder layer's feed-forward
network, after its LayerNorm, as in the paper — and a value, y_t itself (scratchml.retrieve.datastore).

**Decoding.** At each step the current state q is the query. Its k nearest keys, at squared L2
distances d_i, give a distribution over the tokens that followed them,

    p_kNN(y) ∝ Σ_i 1[v_i = y] exp(−d_i / T),

which is mixed into the model's own, p(y) = λ p_kNN(y) + (1 − λ) p_MT(y), with λ adapting to the
nearest distance (scratchml/retrieve/knn.py has the math).
"""

from contextlib import contextmanager
from dataclasses import asdict

import numpy as np
import torch
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import KNNSettings, capture_input, mix
from scratchml.transformer import autocast
from scratchml.translate.batching import pad


@torch.no_grad()
def teacher_forced_keys(model, sources: list[list[int]], targets: list[list[int]], bf16: bool = False,
                        batch_size: int = 64, progress: bool = True):
    """(keys (n, C) float16, values (n,), origins (n,)): one entry per target token (its <eos> too)."""
    cfg = model.cfg
    keys, values, origins = [], [], []
    order = sorted(range(len(sources)), key=lambda i: len(targets[i]))  # little padding per batch
    bar = tqdm(total=len(sources), desc="datastore", unit="pair", disable=not progress, dynamic_ncols=True)
    with capture_input(model.decoder[-1].ffn) as box:
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            src = pad([sources[i] + [cfg.eos_id] for i in idx], cfg.pad_id)
            tgt_in = pad([[cfg.bos_id] + targets[i] for i in idx], cfg.pad_id)
            tgt_out = pad([targets[i] + [cfg.eos_id] for i in idx], cfg.pad_id)
            with autocast(src.device, bf16):
                memory, src_mask = model.encode(src)
                model.decode(tgt_in, memory, src_mask, select=tgt_out != cfg.pad_id)
            real = tgt_out != cfg.pad_id
            keys.append(box[0][real].float().cpu().numpy().astype(np.float16))
            values.append(tgt_out[real].numpy())
            origins.append(np.repeat(np.array(idx), real.sum(1).numpy()))
            bar.update(len(idx))
    bar.close()
    return np.concatenate(keys), np.concatenate(values).astype(np.int32), np.concatenate(origins).astype(np.int32)


class KNN:
    """What the decoder calls at each step: the model's logits of the newest position in, the
    interpolated log-probabilities out. ``attached(model)`` captures the query states; with
    ``record`` each call's neighbours and λ are kept (for ``scratchml nmt neighbours``)."""

    def __init__(self, datastore: Datastore, settings: KNNSettings | None = None, record: bool = False):
        settings = settings or KNNSettings()
        settings.check()
        self.datastore, self.settings, self.record = datastore, settings, record
        self.box = None
        self.trace: list[dict] = []

    @contextmanager
    def attached(self, model):
        if self.datastore.dim != model.cfg.d_model:
            raise ScratchMLError(f"the datastore's keys have {self.datastore.dim} dimensions, the model's states "
                                 f"{model.cfg.d_model}: it was built for another model")
        with capture_input(model.decoder[-1].ffn) as box:
            self.box = box
            try:
                yield self
            finally:
                self.box = None

    def __call__(self, logits: torch.Tensor, group: int = 1) -> torch.Tensor:
        """logits (N, V) of the newest position → log p (N, V). ``group``: the rows come in runs of
        that many hypotheses of one sentence (a beam), which share their search."""
        s = self.settings
        query = self.box[0][:, -1].float().cpu().numpy()  # (N, C)
        found = self.datastore.search(query, s.k, s.nprobe, group)
        logp, lam = mix(logits, found, s)
        if self.record:
            self.trace.append({"neighbours": found, "lambda": lam.numpy()})
        return logp

    def info(self) -> dict:
        return {**asdict(self.settings), "entries": len(self.datastore)}
