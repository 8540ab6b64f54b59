"""Beam search against the textbook version: every sentence keeps its K rows until the whole batch
is done, and all K rows start at step 0. Ours drops finished sentences and starts from one row a
sentence; the hypotheses, their scores and the choice must be the same."""

import pytest
import torch

from scratchml.translate.config import preset
from scratchml.translate.decode import beam_search, greedy_decode, length_penalty
from scratchml.translate.model import Transformer


@torch.no_grad()
def textbook_beam_search(model, src, max_len, beam, alpha):
    cfg, B, K = model.cfg, src.size(0), beam
    memory, src_mask = model.encode(src)
    memory, src_mask = memory.repeat_interleave(K, 0), src_mask.repeat_interleave(K, 0)
    tokens = torch.full((B * K, 1), cfg.bos_id, dtype=torch.long)
    scores = torch.full((B, K), float("-inf"))
    scores[:, 0] = 0.0
    finished = [[] for _ in range(B)]
    cache = model.new_cache()
    for step in range(max_len):
        logp = model.decode(tokens[:, -1:], memory, src_mask, cache, start=step)[:, -1].float().log_softmax(-1)
        V = logp.size(-1)
        top_s, top_i = (scores.view(-1, 1) + logp).view(B, K * V).topk(2 * K, dim=-1)
        rows, toks, new_scores = [], [], []
        for b in range(B):
            alive = []
            for s, i in zip(top_s[b].tolist(), top_i[b].tolist()):
                row, tok = b * K + i // V, i % V
                if s == float("-inf"):
                    break
                if tok == cfg.eos_id:
                    if len(finished[b]) < K:
                        finished[b].append((s / length_penalty(step + 1, alpha), tokens[row, 1:].tolist()))
                elif len(alive) < K:
                    alive.append((row, tok, s))
            if len(finished[b]) >= K:  # done: its rows run on, dead
                alive = []
            alive += [(b * K, cfg.pad_id, float("-inf"))] * (K - len(alive))
            rows += [r for r, _, _ in alive]
            toks += [t for _, t, _ in alive]
            new_scores += [s for _, _, s in alive]
        index = torch.tensor(rows)
        tokens = torch.cat([tokens[index], torch.tensor(toks)[:, None]], dim=1)
        scores = torch.tensor(new_scores).view(B, K)
        for layer in cache:
            layer.reorder(index)
        if all(len(f) >= K for f in finished) or bool(torch.isinf(scores).all()):
            break
    out = []
    for b in range(B):
        if not finished[b]:
            finished[b].append((0.0, tokens[b * K + int(scores[b].argmax()), 1:].tolist()))
        ids = max(finished[b], key=lambda t: t[0])[1]
        ids = ids[:ids.index(cfg.eos_id)] if cfg.eos_id in ids else ids
        out.append([i for i in ids if i != cfg.pad_id])
    return out


# Seeds whose sentences end at different steps, some at max_len (found by trying seeds).
@pytest.mark.parametrize("seed, beam, alpha, max_len", [(8, 4, 0.6, 12), (1, 3, 2.0, 8), (2, 5, 0.0, 15),
                                                       (3, 2, 1.0, 1)])
def test_beam_search_equals_the_textbook_version(seed, beam, alpha, max_len):
    torch.manual_seed(seed)
    model = Transformer(preset("tiny", vocab_size=12)).double().eval()  # float64: no near-ties from rounding
    with torch.no_grad():  # make <eos> likely, so sentences finish at different steps
        model.ln_dec.bias.add_(0.3 * model.embed.weight[model.cfg.eos_id] / model.embed.weight[2].norm())
    src = torch.randint(3, 12, (6, 5))
    src[2, 3:] = model.cfg.pad_id
    got = beam_search(model, src, max_len, beam=beam, alpha=alpha)
    assert got == textbook_beam_search(model, src, max_len, beam, alpha)
    assert len({len(h) for h in got}) > 1 or max_len == 1  # sentences ended at different lengths


def test_greedy_decoding_one_sentence_at_a_time_equals_the_batch():
    torch.manual_seed(5)
    model = Transformer(preset("tiny", vocab_size=12)).double().eval()
    with torch.no_grad():
        model.ln_dec.bias.add_(0.3 * model.embed.weight[model.cfg.eos_id] / model.embed.weight[2].norm())
    src = torch.randint(3, 12, (6, 5))
    assert greedy_decode(model, src, 15) == [greedy_decode(model, src[i:i + 1], 15)[0] for i in range(6)]
