"""Batched greedy and beam search, incremental with the decoder's key/value cache
(``scratchml.transformer.cache``): each step feeds only the newest token.

``decode_sorted`` is the driver that inference and validation share: it sorts the sources by
length, so that each batch carries little padding, and decodes batch by batch.
"""

import torch
from tqdm import tqdm

from scratchml.transformer import autocast
from scratchml.translate.batching import pad
from scratchml.translate.model import Transformer


@torch.no_grad()
def greedy_decode(model: Transformer, src: torch.Tensor, max_len: int, use_cache: bool = True) -> list[list[int]]:
    """src (B, S) -> for each sentence the argmax token at every step, until <eos> or ``max_len``."""
    cfg = model.cfg
    memory, src_mask = model.encode(src)
    B = src.size(0)
    out = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    cache = model.new_cache() if use_cache else None
    for step in range(max_len):
        if use_cache:
            logits = model.decode(out[:, -1:], memory, src_mask, cache, start=step)
        else:
            logits = model.decode(out, memory, src_mask)
        nxt = logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, cfg.pad_id), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == cfg.eos_id
        if bool(done.all()):
            break
    return [_strip(row.tolist(), cfg) for row in out[:, 1:]]


def _strip(ids: list[int], cfg) -> list[int]:
    """Cut at the first <eos> and drop padding."""
    if cfg.eos_id in ids:
        ids = ids[:ids.index(cfg.eos_id)]
    return [i for i in ids if i != cfg.pad_id]


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al. 2016, eq. 14)."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model: Transformer, src: torch.Tensor, max_len: int, beam: int = 4,
                alpha: float = 0.6) -> list[list[int]]:
    """Batched beam search: keeps ``beam`` live hypotheses per sentence; a hypothesis that emits
    <eos> is set aside with score log P(Y|X) / lp(Y). A sentence is done when it has ``beam``
    finished hypotheses; the best normalized one is returned."""
    cfg = model.cfg
    B, K = src.size(0), beam
    memory, src_mask = model.encode(src)
    memory = memory.repeat_interleave(K, dim=0)  # (B*K, S, C)
    src_mask = src_mask.repeat_interleave(K, dim=0)
    tokens = torch.full((B * K, 1), cfg.bos_id, dtype=torch.long, device=src.device)
    scores = torch.full((B, K), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # all K rows start identical: let only the first one expand at step 0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    cache = model.new_cache()
    for step in range(max_len):
        logits = model.decode(tokens[:, -1:], memory, src_mask, cache, start=step)[:, -1]
        logp = logits.float().log_softmax(-1)  # (B*K, V)
        V = logp.size(-1)
        cand = (scores.view(-1, 1) + logp).view(B, K * V)
        top_scores, top_idx = cand.topk(2 * K, dim=-1)  # 2K candidates: at most K of them end here
        top_scores, top_idx = top_scores.tolist(), top_idx.tolist()
        rows, next_tok, next_scores = [], [], []
        for b in range(B):
            alive = 0
            for s, idx in zip(top_scores[b], top_idx[b]):
                row, tok = b * K + idx // V, idx % V
                if s == float("-inf"):
                    break
                if tok == cfg.eos_id:
                    if len(finished[b]) < K:
                        finished[b].append((s / length_penalty(step + 1, alpha), tokens[row, 1:].tolist()))
                    continue
                if alive < K:
                    rows.append(row); next_tok.append(tok); next_scores.append(s)
                    alive += 1
            # Sentence done (or out of candidates): keep K dead rows so shapes stay (B*K, ...).
            if len(finished[b]) >= K or alive < K:
                missing = K - alive
                rows += [b * K] * missing; next_tok += [cfg.pad_id] * missing
                next_scores += [float("-inf")] * missing
                if len(finished[b]) >= K:  # mark the whole sentence dead
                    for j in range(K):
                        next_scores[-K + j] = float("-inf")
        index = torch.tensor(rows, device=src.device)
        tokens = torch.cat([tokens.index_select(0, index),
                            torch.tensor(next_tok, device=src.device)[:, None]], dim=1)
        scores = torch.tensor(next_scores, device=src.device).view(B, K)
        for layer in cache:
            layer.reorder(index)  # the hypotheses that survive this step
        if all(len(f) >= K for f in finished) or bool(torch.isinf(scores).all()):
            break
    results = []
    for b in range(B):
        if not finished[b]:  # nothing reached <eos> within max_len: take the best live hypothesis
            k = int(scores[b].argmax())
            finished[b].append((0.0, tokens[b * K + k, 1:].tolist()))
        best = max(finished[b], key=lambda t: t[0])[1]
        results.append(_strip(best, cfg))
    return results


@torch.no_grad()
def decode_sorted(model: Transformer, sources: list[list[int]], beam: int = 1, alpha: float = 0.0,
                  batch_size: int = 64, max_length: int | None = None, bf16: bool = False,
                  progress: bool = False) -> list[list[int]]:
    """Output ids for each list of source ids (an empty source gives an empty output). Sources are
    decoded in batches of similar length; each may grow to 1.5 x its batch's longest source + 10
    tokens, within the model's ``max_len`` and ``max_length``."""
    cfg, device = model.cfg, next(model.parameters()).device
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[int]] = [[] for _ in sources]
    bar = tqdm(total=len(sources), desc="translating", unit="sent", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(order), batch_size):
        bar.update(len(order[start:start + batch_size]))
        idx = [i for i in order[start:start + batch_size] if sources[i]]
        if not idx:
            continue
        src = pad([sources[i] + [cfg.eos_id] for i in idx], cfg.pad_id).to(device)
        limit = min(cfg.max_len - 1, int(1.5 * src.size(1)) + 10)
        if max_length is not None:
            limit = max(1, min(limit, max_length))
        with autocast(device, bf16):
            if beam == 1:
                hyps = greedy_decode(model, src, limit)
            else:
                hyps = beam_search(model, src, limit, beam=beam, alpha=alpha)
        for i, h in zip(idx, hyps):
            out[i] = h
    bar.close()
    return out
