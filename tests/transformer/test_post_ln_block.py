"""The post-LN block, LN(x + f(x)), against PyTorch's nn.TransformerEncoderLayer(norm_first=False) with
copied weights: GELU, Q/K/V biases, BERT's LayerNorm eps, padding."""

import pytest
import torch
import torch.nn as nn

from scratchml.transformer import PostLNBlock, padding_mask


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_post_ln_block_matches_nn_transformer_encoder_layer(activation):
    torch.manual_seed(0)
    B, T, C, H, F = 3, 6, 16, 4, 40
    ours = PostLNBlock(C, H, F, activation=activation, qkv_bias=True, eps=1e-12).double().eval()
    with torch.no_grad():  # nonzero biases and LayerNorm parameters, so that copying them is tested
        for p in ours.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.5)
    # Training mode (dropout 0) keeps PyTorch off its fused fast path: the plain computation is the reference.
    ref = nn.TransformerEncoderLayer(C, H, F, dropout=0.0, activation=activation, layer_norm_eps=1e-12,
                                     batch_first=True, norm_first=False, dtype=torch.float64).train()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(ours.attn.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(ours.attn.qkv.bias)
        ref.self_attn.out_proj.load_state_dict(ours.attn.proj.state_dict())
        ref.linear1.load_state_dict(ours.ffn.up.state_dict())
        ref.linear2.load_state_dict(ours.ffn.down.state_dict())
        ref.norm1.load_state_dict(ours.ln1.state_dict())
        ref.norm2.load_state_dict(ours.ln2.state_dict())

    x = torch.randn(B, T, C, dtype=torch.float64)
    tokens = torch.tensor([[5] * T, [5] * 4 + [0] * 2, [5] + [0] * 5])  # 0 = padding
    got = ours(x, padding_mask(tokens, 0))
    want = ref(x, src_key_padding_mask=tokens == 0)  # True = padding, the opposite of ours
    assert torch.allclose(got, want, atol=1e-10)
    assert ours.ln1.eps == 1e-12


def test_post_ln_block_normalizes_its_output():
    torch.manual_seed(1)
    block = PostLNBlock(8, 2, 16).eval()
    y = block(torch.randn(2, 5, 8) * 10, None)
    assert torch.allclose(y.mean(-1), torch.zeros(2, 5), atol=1e-5)  # LayerNorm last, weight 1 and bias 0
    assert torch.allclose(y.std(-1, unbiased=False), torch.ones(2, 5), atol=1e-3)
