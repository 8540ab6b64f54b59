"""Batched greedy and beam search, incremental with the decoder's key/value cache
(``scratchml.transformer.cache``): each step feeds only the newest token.

``decode_sorted`` is the driver that inference and validation share: it sorts the sources by
length, so that each batch carries little padding, and decodes batch by batch.

Every function takes an optional ``should_stop``: a callable asked once before each decoding step.
When it answers True the decode raises ``DecodingCancelled`` and its work is dropped. A server uses
it to stop decoding for a client that gave up, instead of finishing a translation nobody will read.
It runs on the decoding thread, between two steps, so it may also do other work there (the server
decodes short requests in it, see serve/batcher.py); the decode's own state waits meanwhile.

An optional ``knn`` (knn.py) turns each step's logits into log-probabilities mixed with a datastore's
neighbours (kNN-MT); without it a step's distribution is the model's own.
"""

from collections.abc import Callable
from contextlib import nullcontext

import torch
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.transformer import KVCache, autocast
from scratchml.translate.batching import pad
from scratchml.translate.model import Transformer


class DecodingCancelled(ScratchMLError):
    """``should_stop`` said True between two decoding steps: the decode was abandoned."""


def _check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise DecodingCancelled("decoding was cancelled")


def _drop_finished(keep: torch.Tensor, memory, src_mask, caches: list[KVCache]):
    """Keep only the rows ``keep`` of the encoder output, its mask and the ``caches``: a finished
    sentence stops costing compute while the others of its batch go on."""
    for c in caches:
        c.reorder(keep)
    return memory.index_select(0, keep), src_mask.index_select(0, keep)


def _limits(max_len: int | list[int], B: int) -> list[int]:
    """``max_len``: one output length limit for the batch, or one per sentence."""
    limits = [max_len] * B if isinstance(max_len, int) else list(max_len)
    if len(limits) != B or min(limits, default=1) < 1:
        raise ValueError(f"need {B} output length limits of at least 1, got {max_len}")
    return limits


@torch.no_grad()
def greedy_decode(model: Transformer, src: torch.Tensor, max_len: int | list[int], use_cache: bool = True,
                  should_stop: Callable[[], bool] | None = None, knn=None) -> list[list[int]]:
    """src (B, S) -> for each sentence the argmax token at every step, until <eos> or its ``max_len``
    (one limit for all, or one per sentence)."""
    cfg = model.cfg
    memory, src_mask = model.encode(src)
    B = src.size(0)
    limits = _limits(max_len, B)
    limit = torch.tensor(limits, device=src.device)  # (B,)
    tokens = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=src.device)  # (rows, 1 + step)
    sentence = torch.arange(B, device=src.device)  # the sentence of each row still decoding
    out: list[list[int]] = [[] for _ in range(B)]
    cache = model.new_cache() if use_cache else None
    for step in range(max(limits)):
        _check(should_stop)
        if use_cache:
            logits = model.decode(tokens[:, -1:], memory, src_mask, cache, start=step)
        else:
            logits = model.decode(tokens, memory, src_mask)
        nxt = (logits[:, -1] if knn is None else knn(logits[:, -1])).argmax(-1)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        # a sentence ends at <eos> or at its own length limit, whatever the others of its batch do
        done = (nxt == cfg.eos_id) | (step + 1 >= limit[sentence])
        if bool(done.any()):
            for row in done.nonzero()[:, 0].tolist():
                out[int(sentence[row])] = tokens[row, 1:].tolist()
            keep = (~done).nonzero()[:, 0]
            if keep.numel() == 0:
                break
            tokens, sentence = tokens.index_select(0, keep), sentence.index_select(0, keep)
            caches = [c for layer in cache or [] for c in (layer.self_attn, layer.cross_attn)]
            memory, src_mask = _drop_finished(keep, memory, src_mask, caches)
    return [_strip(ids, cfg) for ids in out]


def _strip(ids: list[int], cfg) -> list[int]:
    """Cut at the first <eos> and drop padding."""
    if cfg.eos_id in ids:
        ids = ids[:ids.index(cfg.eos_id)]
    return [i for i in ids if i != cfg.pad_id]


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al. 2016, eq. 14)."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model: Transformer, src: torch.Tensor, max_len: int | list[int], beam: int = 4,
                alpha: float = 0.6, should_stop: Callable[[], bool] | None = None, knn=None) -> list[list[int]]:
    """Batched beam search: keeps ``beam`` live hypotheses per sentence; a hypothesis that emits
    <eos> is set aside with score log P(Y|X) / lp(Y). A sentence is done when it has ``beam``
    finished hypotheses (its rows then leave the batch), or at its ``max_len`` (one limit for all,
    or one per sentence); the best normalized one is returned."""
    cfg = model.cfg
    B, K = src.size(0), beam
    limits = _limits(max_len, B)
    memory, src_mask = model.encode(src)
    # Step 0 expands one row per sentence (all K hypotheses would start identical); after it every
    # sentence has K rows. Rows of one sentence share the encoder output and its projections.
    tokens = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=src.device)  # (A*R, 1 + step)
    scores = torch.zeros(B, 1, device=src.device)  # (A, R) log P of each live hypothesis
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    active = list(range(B))  # the sentence of each block of R rows still decoding
    cache = model.new_cache()
    for step in range(max(limits)):
        _check(should_stop)
        logits = model.decode(tokens[:, -1:], memory, src_mask, cache, start=step)[:, -1]
        (A, R), V = scores.shape, logits.size(-1)
        logp = logits.float().log_softmax(-1) if knn is None else knn(logits, group=R)  # (A*R, V)
        cand = (scores.view(-1, 1) + logp).view(A, R * V)
        top_scores, top_idx = cand.topk(min(2 * K, R * V), dim=-1)  # 2K: at most K of them end here
        top_scores, top_idx = top_scores.tolist(), top_idx.tolist()
        kept, rows, next_tok, next_scores = [], [], [], []
        for j, b in enumerate(active):
            alive = []
            for s, idx in zip(top_scores[j], top_idx[j]):
                row, tok = j * R + idx // V, idx % V
                if s == float("-inf"):
                    break
                if tok == cfg.eos_id:
                    if len(finished[b]) < K:
                        finished[b].append((s / length_penalty(step + 1, alpha), tokens[row, 1:].tolist()))
                elif len(alive) < K:
                    alive.append((row, tok, s))
            if len(finished[b]) >= K or not alive or step + 1 >= limits[b]:  # done, out of candidates or steps
                if not finished[b]:  # nothing ended with <eos>: the best live hypothesis
                    row, tok = (alive[0][0], [alive[0][1]]) if alive else (j * R, [])
                    finished[b].append((0.0, tokens[row, 1:].tolist() + tok))
                continue
            kept.append(j)
            alive += [(j * R, cfg.pad_id, float("-inf"))] * (K - len(alive))  # dead rows keep K per sentence
            rows += [r for r, _, _ in alive]
            next_tok += [t for _, t, _ in alive]
            next_scores += [s for _, _, s in alive]
        if not kept:
            break
        index = torch.tensor(rows, device=src.device)
        tokens = torch.cat([tokens.index_select(0, index),
                            torch.tensor(next_tok, device=src.device)[:, None]], dim=1)
        scores = torch.tensor(next_scores, device=src.device).view(len(kept), K)
        for layer in cache:
            layer.reorder(index)  # the hypotheses that survive this step
        if R != K or len(kept) < A:  # K rows per sentence from now on; finished sentences leave
            blocks = torch.tensor([j * R for j in kept for _ in range(K)], device=src.device)
            memory, src_mask = _drop_finished(blocks, memory, src_mask, [layer.cross_attn for layer in cache])
            active = [active[j] for j in kept]
    return [_strip(max(f, key=lambda t: t[0])[1], cfg) for f in finished]


def output_limit(source_tokens: int, model_max_len: int, max_length: int | None = None) -> int:
    """Output tokens a source of ``source_tokens`` (with its <eos>) may produce: 1.5 x + 10, a
    bound that real translations stay well within and that stops a decoder that loops."""
    limit = min(model_max_len - 1, int(1.5 * source_tokens) + 10)
    return limit if max_length is None else max(1, min(limit, max_length))


@torch.no_grad()
def decode_sorted(model: Transformer, sources: list[list[int]], beam: int = 1, alpha: float = 0.0,
                  batch_size: int = 64, max_length: int | None = None, bf16: bool = False,
                  progress: bool = False, should_stop: Callable[[], bool] | None = None, knn=None) -> list[list[int]]:
    """Output ids for each list of source ids (an empty source gives an empty output). Sources are
    decoded in batches of similar length; each output may grow to 1.5 x its own source + 10 tokens,
    within the model's ``max_len`` and ``max_length``, so a translation does not depend on the other
    sentences of its batch. ``should_stop``: see the module's
    docstring; it is asked before every step of every batch."""
    cfg, device = model.cfg, next(model.parameters()).device
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[int]] = [[] for _ in sources]
    bar = tqdm(total=len(sources), desc="translating", unit="sent", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        idx = [i for i in batch if sources[i]]
        if not idx:
            bar.update(len(batch))
            continue
        src = pad([sources[i] + [cfg.eos_id] for i in idx], cfg.pad_id).to(device)
        limits = [output_limit(len(sources[i]) + 1, cfg.max_len, max_length) for i in idx]  # +1: <eos>
        with autocast(device, bf16), (nullcontext() if knn is None else knn.attached(model)):
            if beam == 1:
                hyps = greedy_decode(model, src, limits, should_stop=should_stop, knn=knn)
            else:
                hyps = beam_search(model, src, limits, beam=beam, alpha=alpha, should_stop=should_stop, knn=knn)
        for i, h in zip(idx, hyps):
            out[i] = h
        bar.update(len(batch))  # after the batch: the bar counts sentences done
    bar.close()
    return out
