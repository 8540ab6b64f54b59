"""The contrastive loss that teaches an encoder which passage answers which query: in-batch negatives.

A batch holds B (query, relevant passage) pairs. Every query is scored against every passage of the
batch, and the loss is the cross-entropy of picking its own passage out of all of them:

    scores[i, j] = scale * cos(q_i, p_j)                      (B, N)
    loss         = mean over i of  -log softmax(scores[i])[i]

The other B - 1 passages are the negatives, for free: they are encoded for their own queries anyway.
This is InfoNCE (van den Oord et al. 2018, "Representation Learning with Contrastive Predictive
Coding"), used for retrieval with in-batch negatives by Henderson et al. (2017, "Efficient Natural
Language Response Suggestion for Smart Reply") and Karpukhin et al. (2020, "Dense Passage Retrieval",
DPR); sentence-transformers calls it ``MultipleNegativesRankingLoss`` and scales the cosines by 20
(a temperature of 0.05): cosines lie in [-1, 1], too narrow a range for a confident softmax.

Hard negatives (DPR, section 3.2): passages that look relevant to a query but are not, such as the
top BM25 result that the judges did not mark, are appended as extra columns, N = 2B. In-batch
negatives are mostly easy (another topic entirely); a hard negative teaches finer distinctions.

A column that is in fact relevant to a row's query (another relevant passage of that query, or a
hard negative of one query that answers another) would be a false negative, pushed away from the
query it answers: ``ignore`` removes such scores from the softmax.
"""

import torch
import torch.nn.functional as F

SCALE = 20.0  # sentence-transformers' MultipleNegativesRankingLoss


def in_batch_loss(queries: torch.Tensor, passages: torch.Tensor, scale: float = SCALE,
                  ignore: torch.Tensor | None = None) -> torch.Tensor:
    """queries (B, C) and passages (N, C), unit vectors, N >= B; passages[i] is the positive of
    queries[i] and every other row a negative. ``ignore`` (B, N) bool: scores left out of the
    softmax (never a row's own positive). Returns the mean cross-entropy, a scalar."""
    scores = scale * queries @ passages.T  # (B, N): cosines, as the vectors have length 1
    if ignore is not None:
        scores = scores.masked_fill(ignore, float("-inf"))
    targets = torch.arange(len(queries), device=queries.device)  # (B,): the diagonal
    return F.cross_entropy(scores, targets)
