"""Training throughput of our Transformer vs torch.nn.Transformer of identical dimensions, and the
speed-up of KV-cached incremental decoding. Both models train on the same batches with the same
optimizer and precision (bfloat16 autocast where the hardware computes it natively, else float32:
scratchml.transformer.precision; --bf16/--no-bf16 force one); steps alternate (ours, theirs, ours,
...) so machine noise hits both.

    python benchmarks/transformer_vs_torch.py [--steps 12] [--size small] [--bf16 | --no-bf16]

Last line: JSON with ours_tok_s, torch_tok_s, ratio (= ours / torch), cached_s, uncached_s and
kv_speedup (= uncached / cached), and the precision used.
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from scratchml.transformer import autocast, sinusoidal_positions, use_bf16
from scratchml.translate import Transformer, preset


class TorchReference(nn.Module):
    """nn.Transformer (pre-LN) with the same tied embedding, sinusoidal positions and output layer."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.register_buffer("pe", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        self.core = nn.Transformer(cfg.d_model, cfg.n_heads, cfg.n_encoder_layers, cfg.n_decoder_layers,
                                   cfg.d_ff, cfg.dropout, batch_first=True, norm_first=True)

    def forward(self, src, tgt_in, select):
        scale = self.cfg.d_model ** 0.5
        s = self.embed(src) * scale + self.pe[:src.size(1)]
        t = self.embed(tgt_in) * scale + self.pe[:tgt_in.size(1)]
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1), dtype=torch.bool)
        pad = src == self.cfg.pad_id
        h = self.core(s, t, tgt_mask=causal, src_key_padding_mask=pad, memory_key_padding_mask=pad,
                      tgt_is_causal=True)
        return F.linear(h[select], self.embed.weight)


def train_step(model, opt, src, tgt_in, tgt_out, pad_id, bf16):
    real = tgt_out != pad_id
    with autocast("cpu", bf16):
        logits = model(src, tgt_in, real)
    loss = F.cross_entropy(logits.float(), tgt_out[real], label_smoothing=0.1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def make_batch(cfg, gen, batch, length):
    src = torch.randint(3, cfg.vocab_size - 3, (batch, length), generator=gen)
    tgt = torch.randint(3, cfg.vocab_size - 3, (batch, length + 1), generator=gen)
    src[:, -2:] = cfg.pad_id  # some padding, as in real batches
    return src, tgt[:, :-1], tgt[:, 1:]


@torch.no_grad()
def decode_steps(model, src, steps, use_cache):
    """Greedy decoding of exactly ``steps`` tokens (no early stop), with or without the KV cache."""
    memory, src_mask = model.encode(src)
    out = torch.full((src.size(0), 1), model.cfg.bos_id, dtype=torch.long)
    cache = model.new_cache() if use_cache else None
    for t in range(steps):
        if use_cache:
            logits = model.decode(out[:, -1:], memory, src_mask, cache, start=t)
        else:
            logits = model.decode(out, memory, src_mask)
        out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=280)
    ap.add_argument("--length", type=int, default=14)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="default: bfloat16 where the CPU computes it natively")
    args = ap.parse_args()
    bf16 = use_bf16("cpu", args.bf16)
    torch.manual_seed(0)
    cfg = preset(args.size, pad_id=0, bos_id=1, eos_id=2)
    ours, ref = Transformer(cfg).train(), TorchReference(cfg).train()
    opts = {m: torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True) for m in (ours, ref)}
    gen = torch.Generator().manual_seed(0)
    batches = [make_batch(cfg, gen, args.batch, args.length) for _ in range(args.steps + 2)]
    seconds = {ours: 0.0, ref: 0.0}
    tokens = 0
    for i, (src, tgt_in, tgt_out) in enumerate(batches):
        for model in (ours, ref):
            start = time.perf_counter()
            train_step(model, opts[model], src, tgt_in, tgt_out, cfg.pad_id, bf16)
            if i >= 2:  # the first two steps warm up allocators and kernels
                seconds[model] += time.perf_counter() - start
        if i >= 2:
            tokens += int((tgt_out != cfg.pad_id).sum()) + int((src != cfg.pad_id).sum())

    ours.eval()
    src = batches[0][0][:16]
    timings = {}
    for use_cache in (True, False, True, False):
        start = time.perf_counter()
        decode_steps(ours, src, 30, use_cache)
        timings.setdefault(use_cache, []).append(time.perf_counter() - start)
    cached, uncached = min(timings[True]), min(timings[False])
    assert torch.equal(decode_steps(ours, src, 30, True), decode_steps(ours, src, 30, False))

    result = {
        "size": args.size, "parameters_ours": ours.num_parameters(),
        "parameters_torch": sum(p.numel() for p in ref.parameters()),
        "precision": "bfloat16" if bf16 else "float32", "steps": args.steps,
        "tokens_per_step": tokens // args.steps, "threads": torch.get_num_threads(),
        "ours_tok_s": round(tokens / seconds[ours]), "torch_tok_s": round(tokens / seconds[ref]),
        "ratio": round(seconds[ref] / seconds[ours], 3),
        "cached_s": round(cached, 3), "uncached_s": round(uncached, 3),
        "kv_speedup": round(uncached / cached, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
