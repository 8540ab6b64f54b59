"""Validation during training: per-token NLL and greedy BLEU on the held-out split."""

import sacrebleu
import torch
import torch.nn.functional as F

from scratchml.bpe import Tokenizer
from scratchml.transformer import autocast
from scratchml.translate.batching import collate, make_batches
from scratchml.translate.dataset import EncodedData
from scratchml.translate.decode import decode_sorted
from scratchml.translate.model import Transformer


@torch.no_grad()
def validation_loss(model: Transformer, data: EncodedData, max_tokens: int, bf16: bool) -> float:
    """Mean per-token negative log-likelihood (no label smoothing) on the validation split."""
    model.eval()
    mc, device = model.cfg, next(model.parameters()).device
    total, count = 0.0, 0
    lens = [len(s) + 1 for s in data.valid_src]
    tlens = [len(t) + 1 for t in data.valid_tgt]
    for idx in make_batches(lens, tlens, max_tokens, seed=0, epoch=0):
        src, tgt_in, tgt_out = collate([data.valid_src[i] for i in idx], [data.valid_tgt[i] for i in idx],
                                       mc.bos_id, mc.eos_id, mc.pad_id, device)
        with autocast(device, bf16):
            logits = model(src, tgt_in)
        total += F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten(),
                                 ignore_index=mc.pad_id, reduction="sum").item()
        count += int((tgt_out != mc.pad_id).sum())
    model.train()
    return total / max(count, 1)


def validation_bleu(model: Transformer, tokenizer: Tokenizer, data: EncodedData, n: int, bf16: bool) -> float:
    """Greedy-decoding BLEU (sacrebleu) on the first ``n`` validation pairs, on the model's raw
    output (no sentence splitting, no normalization: the pairs are in the training form)."""
    model.eval()
    hyps = decode_sorted(model, data.valid_src[:n], beam=1, bf16=bf16)
    model.train()
    refs = [es for _, es in data.valid_text[:n]]
    return sacrebleu.corpus_bleu([tokenizer.decode(h, skip_special=True) for h in hyps], [refs]).score
