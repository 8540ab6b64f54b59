"""Our GPT against Hugging Face's GPT2LMHeadModel, in one run, on the same work.

Training: the same configuration (the default recipe's: 6 layers of width 384, 6 heads, context 256,
vocabulary 8,192), the same initial weights (ours exported to GPT-2's format), the same batches of
token ids, the same thread count, the same precision (bfloat16 autocast where the CPU computes it
natively, as ``scratchml llm train`` does; float32 elsewhere), the same loss — each side computing it
as its library does (ours fused with its gradient, theirs with ``F.cross_entropy``) — and AdamW step. The two
alternate in rounds of ``--steps`` steps; each keeps its best round (this machine is shared).
transformers runs its default attention (PyTorch's fused ``scaled_dot_product_attention``).

Generation: 128 new tokens after a 16-token prompt, greedy, batch 1 and batch 8: ours with the
key/value cache, ours recomputing the whole sequence at every step, and transformers' ``generate``
(with its cache) on the same weights, all three in the training's precision (as ``scratchml llm
generate`` chooses it). The end-of-text token's embedding is zeroed so that no row
stops early.

The last stdout line is one JSON object.
Usage: ``python benchmarks/gpt_vs_hf.py [--steps 10] [--rounds 3]``
"""

import argparse
import json
import os
import tempfile
import time

import torch
import torch.nn.functional as F
import transformers

from scratchml.bpe import Tokenizer
from scratchml.llm import GPT, GPTConfig, Sampling, export_hf
from scratchml.llm.generate import generate
from scratchml.transformer.cross_entropy import cross_entropy
from scratchml.transformer.precision import autocast, use_bf16

CONFIG = GPTConfig(vocab_size=8192, context=256, d_model=384, n_layers=6, n_heads=6, eot_id=8191)
BATCH = 32


def models() -> tuple[GPT, torch.nn.Module]:
    torch.manual_seed(0)
    ours = GPT(CONFIG)
    with torch.no_grad():
        ours.tokens.weight[CONFIG.eot_id] = 0.0
    tok = Tokenizer([], [f"<t{i}>" for i in range(CONFIG.vocab_size - 257)] + ["<|endoftext|>"])
    with tempfile.TemporaryDirectory() as folder:
        export_hf(ours, tok, folder + "/hf")
        theirs = transformers.GPT2LMHeadModel.from_pretrained(folder + "/hf")
    return ours, theirs


def training(ours, theirs, steps: int, rounds: int, bf16: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, CONFIG.vocab_size, (BATCH, CONFIG.context + 1), generator=g) for _ in range(steps)]

    def logits_of(model, name, x):
        return model(x) if name == "ours" else model(input_ids=x).logits

    best = {}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95))
                  for name, m in (("ours", ours), ("hf", theirs))}
    for r in range(rounds + 1):  # round 0 warms up (allocations, oneDNN kernels) and is not counted
        for name, model in (("ours", ours), ("hf", theirs)):
            model.train()
            start = time.perf_counter()
            for batch in batches:
                x, y = batch[:, :-1], batch[:, 1:]
                with autocast(torch.device("cpu"), bf16):
                    logits = logits_of(model, name, x)
                if name == "ours":  # the loss `scratchml llm train` computes
                    loss = cross_entropy(logits.flatten(0, 1), y.flatten())
                else:  # the one GPT2LMHeadModel computes from labels
                    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
                optimizers[name].zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizers[name].step()
            rate = steps * BATCH * CONFIG.context / (time.perf_counter() - start)
            if r:
                best[name] = max(best.get(name, 0.0), rate)
        if r:
            print(f"round {r}: ours {best['ours']:.0f}, transformers {best['hf']:.0f} tokens/s (best so far)",
                  flush=True)
    return {"ours_train_tokens_per_s": round(best["ours"]), "hf_train_tokens_per_s": round(best["hf"]),
            "train_ratio": round(best["ours"] / best["hf"], 3)}


def generation(ours, theirs, rounds: int, bf16: bool) -> dict:
    ours.eval()
    theirs.eval()
    new, result = 128, {}
    for batch in (1, 8):
        prompts = torch.randint(0, CONFIG.vocab_size - 1, (batch, 16), generator=torch.Generator().manual_seed(1))
        best = {}
        for _ in range(rounds):
            for name in ("cache", "no_cache", "hf"):
                start = time.perf_counter()
                if name == "hf":  # no_grad, as ours: autocast then converts each weight once per call
                    with torch.no_grad(), autocast(torch.device("cpu"), bf16):
                        out = theirs.generate(prompts, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                              pad_token_id=CONFIG.eot_id)
                    made = out.size(1) - prompts.size(1)
                else:
                    out = generate(ours, prompts.tolist(), new, Sampling(greedy=True), use_cache=name == "cache",
                                   bf16=bf16)
                    made = min(map(len, out))
                assert made == new, f"{name} made {made} tokens"
                best[name] = max(best.get(name, 0.0), batch * new / (time.perf_counter() - start))
        print(f"batch {batch}: cache {best['cache']:.0f}, no cache {best['no_cache']:.0f}, "
              f"transformers generate {best['hf']:.0f} tokens/s", flush=True)
        result.update({f"cache_tokens_per_s_b{batch}": round(best["cache"], 1),
                       f"nocache_tokens_per_s_b{batch}": round(best["no_cache"], 1),
                       f"hf_generate_tokens_per_s_b{batch}": round(best["hf"], 1),
                       f"cache_speedup_b{batch}": round(best["cache"] / best["no_cache"], 2)})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="training steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    load_before = os.getloadavg()
    bf16 = use_bf16(torch.device("cpu"))
    ours, theirs = models()
    print(f"{ours.num_parameters() / 1e6:.2f} M parameters; {torch.get_num_threads()} threads; "
          f"{'bfloat16' if bf16 else 'float32'}; load average {load_before}", flush=True)
    result = {"benchmark": "gpt_vs_hf", "config": CONFIG.to_dict(), "batch": BATCH, "threads": torch.get_num_threads(),
              "precision": "bfloat16" if bf16 else "float32", "transformers": transformers.__version__}
    result.update(training(ours, theirs, args.steps, args.rounds, bf16))
    result.update(generation(ours, theirs, args.rounds, bf16))
    result["cache_speedup"] = result["cache_speedup_b1"]
    result.update({"load_average_before": [round(x, 2) for x in load_before],
                   "load_average_after": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
