"""kNN-MT: translation that consults a datastore of the model's own states over known translations
(Khandelwal et al., "Nearest Neighbor Machine Translation", ICLR 2021).

**Datastore.** Teacher-forcing the translator over sentence pairs, every target position t gives a
key, the decoder's state when it predicted y_t — the input of the last decoder layer's feed-forward
network, after its LayerNorm, as in the paper — and a value, y_t itself (scratchml.retrieve.datastore).

**Decoding.** At each step the current state q is the query. Its k nearest keys, at squared L2
distances d_i, give a distribution over the tokens that followed them,

    p_kNN(y) ∝ Σ_i 1[v_i = y] exp(−d_i / T),

which is mixed into the model's own: p(y) = λ p_kNN(y) + (1 − λ) p_MT(y).

**Adaptive λ.** A fixed λ trusts the datastore as much when its nearest key is far (nothing like this
sentence was stored) as when it is an exact match, which hurts on text unlike the datastore (the
paper's multi-domain results; Zheng et al. 2021, "Adaptive Nearest Neighbor Machine Translation",
learn λ from the distances). Here λ follows the nearest distance d_1 with two numbers chosen on the
validation split:

    λ = λ_max · exp(−d_1 / σ),

so an exact match gets λ_max and a state far from everything stored leaves the model alone.
"""

import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.retrieve.datastore import Datastore, Neighbours
from scratchml.transformer import autocast
from scratchml.translate.batching import pad


@dataclass(frozen=True)
class KNNSettings:
    k: int = 16                # neighbours per step
    temperature: float = 10.0  # T of the distance softmax
    lambda_max: float = 0.7    # λ at distance 0
    sigma: float = 20.0        # how fast λ falls with the nearest distance
    nprobe: int = 8            # IVF cells searched per query

    def check(self) -> None:
        if self.k < 1 or self.nprobe < 1:
            raise ScratchMLError("k and nprobe must be at least 1")
        if not (self.temperature > 0 and self.sigma > 0 and 0 <= self.lambda_max <= 1):
            raise ScratchMLError("temperature and sigma must be positive, lambda_max within [0, 1]")


def fingerprint(model, tokenizer) -> str:
    """A short hash of the weights and the tokenizer: a datastore is only valid for the model that made it."""
    h = hashlib.sha256(json.dumps(tokenizer.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float16).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@contextmanager
def capture_keys(model):
    """Within the block, ``box[0]`` holds the last decoder layer's feed-forward input of the latest
    forward pass, (B, T, C)."""
    box = [None]
    handle = model.decoder[-1].ffn.register_forward_pre_hook(lambda module, args: box.__setitem__(0, args[0]))
    try:
        yield box
    finally:
        handle.remove()


@torch.no_grad()
def teacher_forced_keys(model, sources: list[list[int]], targets: list[list[int]], bf16: bool = False,
                        batch_size: int = 64, progress: bool = True):
    """(keys (n, C) float16, values (n,), origins (n,)): one entry per target token (its <eos> too)."""
    cfg = model.cfg
    keys, values, origins = [], [], []
    order = sorted(range(len(sources)), key=lambda i: len(targets[i]))  # little padding per batch
    bar = tqdm(total=len(sources), desc="datastore", unit="pair", disable=not progress, dynamic_ncols=True)
    with capture_keys(model) as box:
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


def knn_distribution(neighbours: Neighbours, vocab_size: int, temperature: float) -> torch.Tensor:
    """p_kNN (q, V): the softmax of −d/T over the neighbours found, summed per token."""
    d = torch.from_numpy(neighbours.distances).float()
    values = torch.from_numpy(neighbours.values).long()
    w = torch.nan_to_num(torch.softmax(-d / temperature, dim=-1))  # not found: d = inf, weight 0 (all: nan → 0)
    return torch.zeros(len(d), vocab_size).scatter_add_(1, values.clamp(min=0), w)


def adaptive_lambda(nearest: torch.Tensor, settings: KNNSettings) -> torch.Tensor:
    """λ (q,) from each query's nearest squared distance; no neighbour found → 0."""
    lam = settings.lambda_max * torch.exp(-nearest / settings.sigma)
    return torch.nan_to_num(lam, nan=0.0)


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
        with capture_keys(model) as box:
            self.box = box
            try:
                yield self
            finally:
                self.box = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (N, V) of the newest position → log p (N, V)."""
        s = self.settings
        query = self.box[0][:, -1].float().cpu().numpy()  # (N, C)
        found = self.datastore.search(query, s.k, s.nprobe)
        p_knn = knn_distribution(found, logits.size(-1), s.temperature)
        lam = adaptive_lambda(torch.from_numpy(found.distances[:, 0]).float(), s)[:, None]  # (N, 1)
        p = lam * p_knn + (1 - lam) * logits.float().softmax(-1).cpu()
        if self.record:
            self.trace.append({"neighbours": found, "lambda": lam[:, 0].numpy()})
        return p.clamp(min=1e-30).log().to(logits.device)

    def info(self) -> dict:
        return {**asdict(self.settings), "entries": len(self.datastore)}
