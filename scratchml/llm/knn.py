"""kNN-LM: the GPT's next-token distribution mixed with a datastore of its own training text
(Khandelwal et al., "Generalization through Memorization: Nearest Neighbor Language Models", ICLR 2020).

Running the model over training text gives, at every position, a key — the input of the last block's
feed-forward layer, after its LayerNorm, as in the paper — and a value, the token that came next. When
scoring, the model's state at each position is a query; the mixture is scratchml/retrieve/knn.py's.
A rare name or phrase that the weights only half remember is then copied from where it was seen.

Which text: the first ``max_tokens`` tokens of the training stream (train + unsup reviews in file
order, validation reviews left out; 4 M tokens by default, a sixth of it). The 384-wide states are
stored as their coordinates along LM_KEY_COMPONENTS principal directions (retrieve/pca.py; He et
al. 2021 reduce kNN-LM's keys the same way): 0.5 GB of float16 keys instead of 3 GB, and searches
that read 6 times fewer bytes. The cache is ``$SCRATCHML_CACHE/datastores/<model fingerprint>-lm-<tokens>``.
"""

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm.data import token_stream
from scratchml.llm.model import GPT
from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import KNNSettings, capture_input, fingerprint, mix
from scratchml.transformer.precision import autocast

log = logging.getLogger("scratchml.llm")
DEFAULT_TOKENS = 4_000_000
LM_KEY_COMPONENTS = 64
# Chosen on the GPT's validation reviews (benchmarks/knn_lm.py --tune): a fixed λ like the paper's (a σ
# so large that λ does not move), smaller than its 0.25
LM_SETTINGS = KNNSettings(k=32, temperature=10.0, lambda_max=0.1, sigma=1e9, nprobe=8)


def cache_path(model: GPT, tokenizer: Tokenizer, max_tokens: int) -> Path:
    root = Path(os.environ.get("SCRATCHML_CACHE", "~/.cache/scratchml")).expanduser() / "datastores"
    return root / f"{fingerprint(model, tokenizer)}-lm-{max_tokens}"


@torch.no_grad()
def stream_entries(model: GPT, stream: np.ndarray, bf16: bool = False, batch_size: int = 16,
                   progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys (n, C) float16, next tokens (n,), window of each (n,)) over ``stream`` cut into windows of
    ``context + 1`` tokens: every position but a window's last is a key."""
    context = model.cfg.context
    starts = np.arange(0, len(stream) - 1, context)
    keys, values, origins = [], [], []
    model.eval()
    bar = tqdm(total=len(stream), desc="datastore", unit="token", disable=not progress, dynamic_ncols=True)
    with capture_input(model.layers[-1].ffn) as box:
        for i in range(0, len(starts), batch_size):
            rows = [stream[s:s + context + 1] for s in starts[i:i + batch_size]]
            # only the stream's last window may be shorter: it goes through alone
            groups = [(i, rows)] if len(rows[-1]) == len(rows[0]) else [(i, rows[:-1]), (i + len(rows) - 1, rows[-1:])]
            for first, same in groups:
                if not same:
                    continue
                window = np.stack(same)
                ids = torch.from_numpy(window[:, :-1].astype(np.int64))
                with autocast(ids.device, bf16):
                    model(ids, last_only=True)
                keys.append(box[0].float().reshape(-1, box[0].size(-1)).numpy().astype(np.float16))
                values.append(window[:, 1:].reshape(-1))
                origins.append(np.repeat(np.arange(first, first + len(same)), window.shape[1] - 1))
            bar.update(sum(len(r) - 1 for r in rows))
    bar.close()
    return np.concatenate(keys), np.concatenate(values).astype(np.int32), np.concatenate(origins).astype(np.int32)


def build_training_datastore(model: GPT, tokenizer: Tokenizer, texts: list[str], path, max_tokens: int = DEFAULT_TOKENS,
                             bf16: bool = False, progress: bool = True) -> Datastore:
    stream = token_stream(tokenizer, texts, model.cfg.eot_id, progress=progress)[:max_tokens]
    keys, values, origins = stream_entries(model, stream, bf16, progress=progress)
    log.info("datastore: %d entries; clustering the keys", len(values))
    return Datastore.build(path, keys, values, origins, [], fingerprint(model, tokenizer),
                           components=LM_KEY_COMPONENTS, info={"tokens": int(len(stream))})


def load_or_build(model: GPT, tokenizer: Tokenizer, path=None, max_tokens: int = DEFAULT_TOKENS,
                  progress: bool = True) -> Datastore:
    """The datastore at ``path``, or this model's cached one over its training text, built on first use."""
    fp = fingerprint(model, tokenizer)
    if path is not None:
        return Datastore.load(path, fp)
    cached = cache_path(model, tokenizer, max_tokens)
    if (cached / "meta.json").exists():
        ds = Datastore.load(cached, fp)
        if ds.meta.get("key_dim") == min(LM_KEY_COMPONENTS, model.cfg.d_model):
            return ds
        log.warning("the cached datastore %s was made by an older scratchml (keys of another width)", cached)
    from scratchml.llm.config import TrainConfig
    from scratchml.llm.imdb import training_texts

    log.warning("building the kNN-LM datastore of this model once, into %s (minutes)", cached)
    texts = training_texts(TrainConfig().valid_fraction)[0]
    return build_training_datastore(model, tokenizer, texts, cached, max_tokens, progress=progress)


class KNNLM:
    """What scoring calls: ``attached(model)`` captures the query states of each forward pass, and
    ``logprobs(logits, rows, positions)`` mixes the datastore into the chosen positions' distributions."""

    def __init__(self, datastore: Datastore, settings: KNNSettings = LM_SETTINGS):
        settings.check()
        self.datastore, self.settings = datastore, settings
        self.box = None

    @contextmanager
    def attached(self, model: GPT):
        if self.datastore.dim != model.cfg.d_model:
            raise ScratchMLError("the datastore's keys do not have the model's width: it was built for another model")
        with capture_input(model.layers[-1].ffn) as box:
            self.box = box
            try:
                yield self
            finally:
                self.box = None

    def logprobs(self, logits: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """log p (N, V) at (rows[i], positions[i]) of the latest forward pass, whose logits are given (N, V)."""
        query = self.box[0][rows, positions].float().numpy()
        found = self.datastore.search(query, self.settings.k, self.settings.nprobe)
        return mix(logits, found, self.settings)[0]
