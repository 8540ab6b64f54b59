"""Token-budget batches with length bucketing.

Sentences are sorted by length so that a batch holds sentences of similar length and little padding;
each batch holds as many sentences as fit in ``max_tokens`` padded tokens (source or target, whichever
is longer). The order of the batches is shuffled each epoch from (seed, epoch), so a resumed run
sees exactly the batches it would have seen.
"""

import random

import torch


def make_batches(src_lens: list[int], tgt_lens: list[int], max_tokens: int, seed: int, epoch: int,
                 max_sentences: int = 1024) -> list[list[int]]:
    """Lists of example indices; each list's padded size is at most ``max_tokens`` tokens."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(src_lens)))
    rng.shuffle(order)  # random order among equal lengths, then a stable sort by length
    order.sort(key=lambda i: (tgt_lens[i], src_lens[i]))
    batches, current, longest = [], [], 0
    for i in order:
        longest_if_added = max(longest, src_lens[i], tgt_lens[i])
        if current and (longest_if_added * (len(current) + 1) > max_tokens or len(current) >= max_sentences):
            batches.append(current)
            current, longest_if_added = [], max(src_lens[i], tgt_lens[i])
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def pad(sequences: list[list[int]], pad_id: int) -> torch.Tensor:
    """(B, max length) LongTensor, right-padded with ``pad_id``."""
    out = torch.full((len(sequences), max(map(len, sequences))), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def collate(src: list[list[int]], tgt: list[list[int]], bos: int, eos: int, pad_id: int, device=None):
    """Source + <eos>; decoder input <bos> + target; decoder output target + <eos> (teacher forcing)."""
    src_t = pad([s + [eos] for s in src], pad_id)
    tgt_in = pad([[bos] + t for t in tgt], pad_id)
    tgt_out = pad([t + [eos] for t in tgt], pad_id)
    if device is not None:
        return src_t.to(device), tgt_in.to(device), tgt_out.to(device)
    return src_t, tgt_in, tgt_out
