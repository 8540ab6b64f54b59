"""Attention against PyTorch's own: scaled dot-product attention vs F.scaled_dot_product_attention,
multi-head attention (self and cross) vs nn.MultiheadAttention with copied weights."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchml.transformer import (
    KVCache,
    MultiHeadAttention,
    StaticKVCache,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from scratchml.transformer.attention import attention_in_slices


@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding", "both"])
def test_attention_matches_torch_sdpa(mask_kind):
    g = torch.Generator().manual_seed(0)
    B, H, T, Dh = 3, 4, 7, 8
    q, k, v = (torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64) for _ in range(3))
    tokens = torch.tensor([[5, 6, 7, 8, 9, 0, 0], [5, 6, 7, 8, 9, 10, 11], [5, 0, 0, 0, 0, 0, 0]])
    mask = {"none": None, "causal": causal_mask(T), "padding": padding_mask(tokens, 0),
            "both": causal_mask(T) & padding_mask(tokens, 0)}[mask_kind]
    ours, _ = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(ours, ref, atol=1e-6)


def _reference(ours: MultiHeadAttention, d_model: int, n_heads: int) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(d_model, n_heads, bias=True, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        w = torch.cat([ours.q.weight, ours.kv.weight]) if ours.cross else ours.qkv.weight
        ref.in_proj_weight.copy_(w)
        if ours.cross:
            b = torch.cat([ours.q.bias, ours.kv.bias]) if ours.q.bias is not None else None
        else:
            b = ours.qkv.bias
        ref.in_proj_bias.copy_(b if b is not None else torch.zeros(3 * d_model))
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    return ref.eval()


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("use", ["self", "causal", "cross"])
def test_multi_head_attention_matches_nn_multihead_attention(use, bias):
    torch.manual_seed(1)
    B, T, S, C, H = 2, 5, 7, 12, 3
    ours = MultiHeadAttention(C, H, cross=use == "cross", bias=bias).double().eval()
    if bias:  # nonzero biases, or the test could not tell whether they are used
        with torch.no_grad():
            for m in ours.modules():
                if isinstance(m, nn.Linear) and m.bias is not None:
                    m.bias.normal_()
    ref = _reference(ours, C, H)
    x = torch.randn(B, T, C, dtype=torch.float64)
    memory = torch.randn(B, S, C, dtype=torch.float64)
    kv = memory if use == "cross" else x
    keys = torch.tensor([[4] * kv.size(1), [4] * (kv.size(1) - 2) + [0, 0]])
    mask = padding_mask(keys, 0)  # (B, 1, 1, S): True = may attend
    if use == "causal":
        mask = mask & causal_mask(T)
    got = ours(x, mask, memory=memory if use == "cross" else None)
    # nn.MultiheadAttention's boolean masks mean the opposite: True = may not attend.
    want, _ = ref(x, kv, kv, attn_mask=~mask.expand(B, 1, T, kv.size(1)).repeat_interleave(H, 0).flatten(0, 1),
                  need_weights=False)
    assert torch.allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("static", [False, True])
def test_kv_cache_gives_the_same_outputs_as_recomputing_everything(static):
    torch.manual_seed(2)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(3, 6, 16)
    full = attn(x, causal_mask(6))
    cache = StaticKVCache(9) if static else KVCache()
    # a static cache returns all 9 slots: the causal mask of the full width hides the 3 not written yet
    steps = [attn(x[:, t:t + 1], (causal_mask(9) if static else causal_mask(t + 1))[t:t + 1], cache=cache)
             for t in range(6)]
    assert len(cache) == 6
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-6)


def test_a_static_cache_refuses_more_positions_than_it_holds():
    cache = StaticKVCache(4)
    cache.append(torch.zeros(1, 2, 3, 8), torch.zeros(1, 2, 3, 8))
    with pytest.raises(ValueError, match="holds 4"):
        cache.append(torch.zeros(1, 2, 2, 8), torch.zeros(1, 2, 2, 8))


def test_cross_attention_projects_the_memory_once():
    torch.manual_seed(3)
    attn = MultiHeadAttention(8, 2, cross=True).eval()
    x, memory = torch.randn(2, 1, 8), torch.randn(2, 4, 8)
    cache = KVCache()
    first = attn(x, memory=memory, cache=cache)
    # a different memory is ignored once the cache holds the first one's keys and values
    assert torch.equal(attn(x, memory=torch.zeros_like(memory), cache=cache), first)


def test_kept_weights_are_a_distribution_over_unmasked_keys():
    attn = MultiHeadAttention(8, 2).eval()
    attn.keep_weights = True
    tokens = torch.tensor([[3, 4, 5, 0]])
    attn(torch.randn(1, 4, 8), padding_mask(tokens, 0))
    w = attn.weights  # (B, H, T, S)
    assert w.shape == (1, 2, 4, 4)
    assert torch.allclose(w.sum(-1), torch.ones(1, 2, 4)) and torch.all(w[..., 3] == 0)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding"])
def test_attention_in_slices_is_bit_for_bit_the_whole_batch_at_once(mask_kind):
    g = torch.Generator().manual_seed(4)
    B, H, T, Dh = 5, 3, 6, 8
    q, k, v = (torch.randn(B, H, T, Dh, generator=g) for _ in range(3))
    tokens = torch.randint(1, 9, (B, T), generator=g)
    tokens[1, 4:] = tokens[3, 2:] = 0
    mask = {"none": None, "causal": causal_mask(T), "padding": padding_mask(tokens, 0)}[mask_kind]
    whole, _ = scaled_dot_product_attention(q, k, v, mask)
    for max_scores in (1, 2 * H * T * T, 10 ** 9):  # one row, two rows (the last slice shorter), all rows
        assert torch.equal(attention_in_slices(q, k, v, mask, max_scores), whole)


@pytest.mark.parametrize("mask_kind", ["causal", "padding"])
def test_attention_in_slices_gradients_match_torch_sdpa(mask_kind):
    g = torch.Generator().manual_seed(5)
    B, H, T, Dh = 5, 3, 6, 8
    q, k, v = (torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    tokens = torch.randint(1, 9, (B, T), generator=g)
    tokens[1, 4:] = tokens[3, 2:] = 0
    mask = causal_mask(T) if mask_kind == "causal" else padding_mask(tokens, 0)
    upstream = torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad(attention_in_slices(q, k, v, mask, 2 * H * T * T), (q, k, v), upstream)
    ref = torch.autograd.grad(F.scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v), upstream)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-10)
