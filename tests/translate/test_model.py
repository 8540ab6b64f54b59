"""The translator's model and its decoding invariants (its attention is tested in tests/transformer)."""

import pytest
import torch

from scratchml.translate.config import preset
from scratchml.translate.decode import beam_search, greedy_decode
from scratchml.translate.model import Transformer


def _tiny_model(seed=0, **over):
    torch.manual_seed(seed)
    return Transformer(preset("tiny", vocab_size=50, **over)).eval()


def test_future_target_tokens_do_not_change_earlier_outputs():
    model = _tiny_model()
    src = torch.randint(3, 50, (2, 6))
    tgt = torch.randint(3, 50, (2, 9))
    changed = tgt.clone()
    changed[:, 5:] = torch.randint(3, 50, (2, 4))
    a, b = model(src, tgt), model(src, changed)
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-6)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_source_padding_does_not_change_outputs():
    model = _tiny_model()
    src = torch.randint(3, 50, (1, 5))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    tgt = torch.randint(3, 50, (1, 4))
    assert torch.allclose(model(src, tgt), model(padded, tgt), atol=1e-5)


def test_kv_cached_decoding_equals_full_recomputation():
    model = _tiny_model()
    src = torch.randint(3, 50, (3, 6))
    tgt = torch.randint(3, 50, (3, 8))
    memory, src_mask = model.encode(src)
    full = model.decode(tgt, memory, src_mask)
    cache = model.new_cache()
    steps = [model.decode(tgt[:, t:t + 1], memory, src_mask, cache, start=t) for t in range(8)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert greedy_decode(model, src, 12) == greedy_decode(model, src, 12, use_cache=False)


def test_beam_one_equals_greedy():
    model = _tiny_model(seed=3)
    src = torch.randint(3, 50, (5, 7))
    assert beam_search(model, src, max_len=15, beam=1) == greedy_decode(model, src, 15)


def test_beam_search_finds_a_hypothesis_at_least_as_likely_as_greedy():
    model = _tiny_model(seed=4)
    # A random model rarely emits <eos>: a bias towards it on the final LayerNorm makes greedy
    # decoding end within max_len on some sentences, at different lengths.
    with torch.no_grad():
        eos = model.embed.weight[model.cfg.eos_id]
        model.ln_dec.bias.copy_(4.0 * eos / eos.norm() ** 2)
    src = torch.randint(3, 50, (6, 7))

    def logprob(ids, b):
        tgt = torch.tensor([[model.cfg.bos_id] + ids])
        target = torch.tensor(ids + [model.cfg.eos_id])
        logp = model(src[b:b + 1], tgt)[0].log_softmax(-1)
        return logp[torch.arange(len(target)), target].sum().item()

    greedy = greedy_decode(model, src, 20)
    beam = beam_search(model, src, max_len=20, beam=8, alpha=0.0)
    finished = [b for b in range(len(src)) if 0 < len(greedy[b]) < 20]  # greedy ended with <eos>
    assert finished, "no greedy hypothesis ended: the comparison below would check nothing"
    for b in finished:  # beam (alpha=0) must find one at least as likely
        assert logprob(beam[b], b) >= logprob(greedy[b], b) - 1e-4


@pytest.mark.parametrize("size, millions", [("small", 8.87), ("medium", 11.91)])
def test_shippable_presets_fit_25_mb_in_float16(size, millions):
    n = Transformer(preset(size, vocab_size=10_000)).num_parameters()
    assert round(n / 1e6, 2) == millions and 2 * n <= 25_000_000


@pytest.mark.parametrize("beam", [1, 3])
def test_a_translation_does_not_depend_on_the_other_sentences_of_its_batch(beam):
    # A random model rarely emits <eos>, so its outputs run to their length limit: the limit of the
    # short sentence must come from its own length, not from the long sentence batched with it.
    from scratchml.translate.decode import decode_sorted, output_limit

    model = _tiny_model(seed=5)
    short, long = [5, 6, 7], list(range(3, 43))
    alone = decode_sorted(model, [short], beam=beam, alpha=0.6)
    together = decode_sorted(model, [short, long], beam=beam, alpha=0.6, batch_size=2)
    assert together[0] == alone[0]
    assert len(alone[0]) <= output_limit(len(short) + 1, model.cfg.max_len)
    assert together[1] == decode_sorted(model, [long], beam=beam, alpha=0.6)[0]


def test_per_sentence_limits_equal_decoding_each_sentence_alone():
    model = _tiny_model(seed=2)
    src = torch.randint(3, 50, (3, 6))
    limits = [2, 9, 5]
    for decode in (greedy_decode, lambda m, s, n: beam_search(m, s, n, beam=2)):
        batched = decode(model, src, limits)
        assert batched == [decode(model, src[i:i + 1], limits[i])[0] for i in range(3)]
        assert all(len(out) <= n for out, n in zip(batched, limits))
