"""How well does the model predict a text? Bits per byte.

The model gives each next token a probability p; a code built on those probabilities (arithmetic
coding) would store the token in -log2(p) bits. Summed over a text and divided by its UTF-8 bytes,
that is the compression the model achieves, in units that do not depend on the tokenizer: a model
with a bigger vocabulary predicts fewer, harder tokens, and bits per byte weighs that fairly. It
compares with general-purpose compressors too (gzip, xz: bits of their output per byte of input).

Each document is predicted from the end-of-text token on: its first token counts too, given only
"a text starts here". A document longer than the context is scored with a sliding window: windows of
``context`` tokens start every ``stride`` tokens, and each token is scored once, in the first window
where it is new, so every token after the first window sees at least ``context - stride`` tokens
before it. The default stride is half the context: a token sees between 128 and 255 tokens of its past
at context 256, for half the cost of a stride of 1 (which would give every token the full context).

Scoring runs in float32: bfloat16's rounding would move the figure in its third decimal. With a
``knn`` (knn.py), each scored position's distribution is mixed with a datastore's (kNN-LM).
"""

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm.model import GPT


def windows(ids: list[int], context: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored position) of each window over ``ids``; position 0 (the end-of-text
    token) is never scored, every other position exactly once."""
    out, begin, scored_to = [], 0, 1
    while True:
        end = min(begin + context, len(ids))
        out.append((begin, end, scored_to))
        if end == len(ids):
            return out
        scored_to, begin = end, begin + stride


KNN_ROWS = 4096  # positions mixed with the datastore at once: a few (N, V) float tensors of memory
LOGITS_PER_BATCH = 1 << 28  # floats of logits per batch (1 GB): GPT-2's 50,257 tokens x 1,024 positions is 5 rows


@torch.inference_mode()
def bits_per_byte(model: GPT, tokenizer: Tokenizer, documents: list[str], stride: int | None = None,
                  progress: bool = False, knn=None) -> dict:
    """{"bits_per_byte", "tokens", "bytes", "documents"} of the model on ``documents``."""
    context = model.cfg.context
    stride = context // 2 if stride is None else stride
    if not 1 <= stride <= context - 1:
        raise ScratchMLError(f"the stride must be between 1 and {context - 1} (the context minus one), got {stride}")
    if not any(documents):
        raise ScratchMLError("nothing to score: the text is empty")
    eot = model.cfg.eot_id
    pieces, tokens, n_bytes = [], 0, 0
    for doc in documents:
        ids = [eot] + tokenizer.encode(doc, allow_special=False)
        tokens += len(ids) - 1
        n_bytes += len(doc.encode("utf-8"))
        if len(ids) > 1:  # an empty document has nothing to predict
            pieces += [(ids[b:e], s - b) for b, e, s in windows(ids, context, stride)]
    pieces.sort(key=lambda p: -len(p[0]))  # batches of windows of about one length: little padding
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch_size = max(1, LOGITS_PER_BATCH // (context * model.cfg.vocab_size))
    nats = 0.0
    bar = tqdm(total=tokens, desc="scoring", unit="token", disable=not progress, dynamic_ncols=True)
    with nullcontext() if knn is None else knn.attached(model):
        for i in range(0, len(pieces), batch_size):
            batch = pieces[i:i + batch_size]
            length = len(batch[0][0])
            # padding on the right: the causal mask keeps it out of every real position's view
            ids = torch.tensor([p + [eot] * (length - len(p)) for p, _ in batch], device=device)  # (B, T)
            logits = model(ids).float()  # (B, T, V)
            if knn is None:
                logp = F.log_softmax(logits, dim=-1)
                for row, (p, first) in enumerate(batch):
                    targets = torch.tensor(p[first:], dtype=torch.long, device=device)
                    nats -= logp[row, first - 1:len(p) - 1].gather(-1, targets[:, None]).sum().item()
                    bar.update(len(targets))
                continue
            rows = torch.cat([torch.full((len(p) - first,), r) for r, (p, first) in enumerate(batch)])
            positions = torch.cat([torch.arange(first - 1, len(p) - 1) for p, first in batch])
            targets = torch.cat([torch.tensor(p[first:]) for p, first in batch])
            for s in range(0, len(rows), KNN_ROWS):
                r, t = rows[s:s + KNN_ROWS], positions[s:s + KNN_ROWS]
                logp = knn.logprobs(logits[r, t], r, t)  # (N, V)
                nats -= logp.gather(-1, targets[s:s + KNN_ROWS, None].to(device)).sum().item()
                bar.update(len(r))
    bar.close()
    model.train(was_training)
    return {"bits_per_byte": nats / math.log(2) / max(n_bytes, 1), "tokens": tokens, "bytes": n_bytes,
            "documents": len(documents)}
