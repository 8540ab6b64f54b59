"""Training byte-level BPE the fast way: incremental pair counts and a lazy priority queue.

BPE (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units")
starts from the 256 bytes and repeatedly merges the most frequent adjacent pair of tokens into a
new token. The textbook loop (minbpe) recounts every pair of the whole corpus at every merge:
O(merges × corpus). Industrial trainers (HF tokenizers, sentencepiece) avoid that in three steps:

1. Count each distinct pre-token ("word") once. A corpus of 1.8 M words has only ~44 k distinct
   ones; a word that occurs f times contributes f to each of its pairs.
2. Keep the pair counts and, for each pair, the set of words that contain it. Merging (a, b) only
   touches those words, and inside a word only the neighbours of each occurrence change:

       x a b y  →  x ab y:   (x,a) −f  (a,b) −f  (b,y) −f   (x,ab) +f  (ab,y) +f

3. Find the most frequent pair with a heap of (−count, pair). Updating a heap entry in place is
   expensive, so entries are invalidated lazily: a count that rises pushes a fresh entry; a count
   that falls leaves a stale one (an upper bound). A popped entry whose count is out of date is
   pushed back with the true count (or dropped when the pair is gone, or when a fresher entry
   exists). The first up-to-date entry popped is the true maximum, because every pair has an
   entry at least as large as its count.

Tie-break (deterministic, documented): highest count first; among equal counts the pair with the
smallest (left id, right id) — for two byte pairs that is byte order. The heap orders tuples
(−count, (left, right)) exactly that way.

Merged bytes that already exist (two different pairs can spell the same bytes: "a"+"bc" and
"ab"+"c") reuse the existing id, as HF tokenizers does; such a merge adds a rule, not a token.
"""

from collections import defaultdict
from heapq import heapify, heappop, heappush

from tqdm import tqdm


def train_merges(word_counts: dict[str, int], num_tokens: int, progress: bool = False):
    """Learn merges until the vocabulary has ``num_tokens`` tokens (bytes included) or no pair is left.

    Returns ``(merges, vocab)``: merges as (left id, right id, new id) in the order learned (their
    rank), and vocab as the bytes of each id (ids 0–255 are the bytes themselves).
    """
    vocab = [bytes([i]) for i in range(256)]
    id_of = {b: i for i, b in enumerate(vocab)}
    words = [list(w.encode("utf-8")) for w in word_counts]  # each word as a list of token ids
    freqs = list(word_counts.values())

    counts: dict[tuple[int, int], int] = defaultdict(int)   # pair -> weighted count
    where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words that may contain it
    for i, (w, f) in enumerate(zip(words, freqs)):
        for pair in zip(w, w[1:]):
            counts[pair] += f
            where[pair].add(i)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapify(heap)

    merges = []
    bar = tqdm(total=max(num_tokens - len(vocab), 0), desc="bpe merges", unit="tok", disable=not progress)
    while len(vocab) < num_tokens and heap:
        neg, pair = heappop(heap)
        count = counts.get(pair, 0)
        if count != -neg:  # stale entry
            if 0 < count < -neg:
                heappush(heap, (-count, pair))
            continue
        a, b = pair
        merged = vocab[a] + vocab[b]
        new = id_of.get(merged)
        if new is None:
            new = id_of[merged] = len(vocab)
            vocab.append(merged)
            bar.update(1)
        merges.append((a, b, new))

        delta: dict[tuple[int, int], int] = defaultdict(int)
        for i in where.pop(pair):
            w, f = words[i], freqs[i]
            j = 0
            while j < len(w) - 1:
                if w[j] == a and w[j + 1] == b:
                    delta[pair] -= f
                    if j > 0:  # left neighbour (already rewritten if it was the previous match)
                        x = w[j - 1]
                        delta[x, a] -= f
                        delta[x, new] += f
                        where[x, new].add(i)
                    if j + 2 < len(w):
                        y = w[j + 2]
                        delta[b, y] -= f
                        delta[new, y] += f
                        where[new, y].add(i)
                    w[j:j + 2] = [new]
                j += 1
        for p, d in delta.items():
            if d == 0:
                continue
            c = counts[p] + d
            if c:
                counts[p] = c
            else:
                del counts[p]
            if d > 0:
                heappush(heap, (-c, p))
    bar.close()
    return merges, vocab
