"""The translator's encoder-decoder, built from scratchml.transformer's blocks, against PyTorch's
nn.Transformer (pre-LN, ReLU) holding the same weights."""

import math
from dataclasses import replace

import pytest
import torch
import torch.nn as nn

from scratchml.translate import Transformer, preset


def _copy_into(ref: nn.Transformer, model: Transformer) -> None:
    C = model.cfg.d_model
    with torch.no_grad():
        for ours, theirs in zip(model.encoder, ref.encoder.layers):
            theirs.self_attn.in_proj_weight.copy_(ours.attn.qkv.weight)
            theirs.self_attn.in_proj_bias.zero_()  # ours has no Q/K/V bias
            theirs.self_attn.out_proj.load_state_dict(ours.attn.proj.state_dict())
            theirs.linear1.load_state_dict(ours.ffn.up.state_dict())
            theirs.linear2.load_state_dict(ours.ffn.down.state_dict())
            theirs.norm1.load_state_dict(ours.ln1.state_dict())
            theirs.norm2.load_state_dict(ours.ln2.state_dict())
        for ours, theirs in zip(model.decoder, ref.decoder.layers):
            theirs.self_attn.in_proj_weight.copy_(ours.self_attn.qkv.weight)
            theirs.self_attn.in_proj_bias.zero_()
            theirs.self_attn.out_proj.load_state_dict(ours.self_attn.proj.state_dict())
            theirs.multihead_attn.in_proj_weight.copy_(torch.cat([ours.cross_attn.q.weight, ours.cross_attn.kv.weight]))
            theirs.multihead_attn.in_proj_bias.zero_()
            theirs.multihead_attn.out_proj.load_state_dict(ours.cross_attn.proj.state_dict())
            theirs.linear1.load_state_dict(ours.ffn.up.state_dict())
            theirs.linear2.load_state_dict(ours.ffn.down.state_dict())
            for i in (1, 2, 3):
                getattr(theirs, f"norm{i}").load_state_dict(getattr(ours, f"ln{i}").state_dict())
        ref.encoder.norm.load_state_dict(model.ln_enc.state_dict())
        ref.decoder.norm.load_state_dict(model.ln_dec.state_dict())
    assert ref.encoder.layers[0].self_attn.in_proj_weight.shape == (3 * C, C)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_encoder_decoder_matches_nn_transformer_with_copied_weights():
    torch.manual_seed(0)
    cfg = replace(preset("tiny", vocab_size=60), dropout=0.0)
    model = Transformer(cfg).double().eval()
    with torch.no_grad():  # nonzero biases and LayerNorm parameters, so that copying them is tested
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    ref = nn.Transformer(cfg.d_model, cfg.n_heads, cfg.n_encoder_layers, cfg.n_decoder_layers, cfg.d_ff,
                         dropout=0.0, activation="relu", batch_first=True, norm_first=True,
                         dtype=torch.float64).eval()
    _copy_into(ref, model)

    src = torch.randint(3, 60, (3, 9))
    src[1, 6:] = cfg.pad_id  # padded sources
    src[2, 3:] = cfg.pad_id
    tgt = torch.randint(3, 60, (3, 7))

    def embed(tokens):  # the model's own embedding: scaled token vectors plus sinusoidal positions
        return model.embed(tokens) * math.sqrt(cfg.d_model) + model.pe[:tokens.size(1)]

    T = tgt.size(1)
    pad = src == cfg.pad_id  # nn.Transformer's masks: True = may not attend
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    with torch.no_grad():
        hidden = ref(embed(src), embed(tgt), tgt_mask=future, src_key_padding_mask=pad,
                     memory_key_padding_mask=pad, tgt_is_causal=True)
        want = hidden @ model.embed.weight.T  # the tied output projection
        got = model(src, tgt)
    assert got.shape == (3, T, 60)
    assert torch.allclose(got, want, atol=1e-9)
