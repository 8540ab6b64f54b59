"""Generation that consults a datastore: the model's next-token distribution mixed with the tokens
that followed the stored states nearest to the current one (kNN-LM, Khandelwal et al. ICLR 2020;
kNN-MT, Khandelwal et al. ICLR 2021). The translator (translate/knn.py) and the GPT (llm/knn.py) use
the same math.

With the k nearest keys at squared L2 distances d_i and their next tokens v_i,

    p_kNN(y) ∝ Σ_i 1[v_i = y] exp(−d_i / T),      p(y) = λ p_kNN(y) + (1 − λ) p_model(y).

**λ adapts to the distances.** A fixed λ trusts the datastore as much when its nearest key is far —
nothing like this context was stored — as when it is an exact match, which hurts on text unlike the
datastore (kNN-MT's multi-domain results; Zheng et al. 2021, "Adaptive Nearest Neighbor Machine
Translation", and He et al. 2021, "Efficient Nearest Neighbor Language Models", make λ depend on the
retrieval). Here λ follows the nearest distance d_1, with two numbers chosen on validation data:

    λ = λ_max · exp(−d_1 / σ),

so an exact match gets λ_max, and a state far from everything stored leaves the model alone.
"""

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from scratchml.errors import ScratchMLError
from scratchml.retrieve.datastore import Neighbours


@dataclass(frozen=True)
class KNNSettings:
    k: int = 16                # neighbours per step
    temperature: float = 10.0  # T of the distance softmax
    lambda_max: float = 0.7    # λ at distance 0
    sigma: float = 30.0        # how fast λ falls with the nearest distance
    nprobe: int = 4            # IVF cells searched per query

    def check(self) -> None:
        if self.k < 1 or self.nprobe < 1:
            raise ScratchMLError("k and nprobe must be at least 1")
        if not (self.temperature > 0 and self.sigma > 0 and 0 <= self.lambda_max <= 1):
            raise ScratchMLError("temperature and sigma must be positive, lambda_max within [0, 1]")


def fingerprint(model, tokenizer) -> str:
    """A short hash of the weights and the tokenizer: a datastore is valid only for the model that made it."""
    h = hashlib.sha256(json.dumps(tokenizer.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float16).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@contextmanager
def capture_input(module):
    """Within the block, ``box[0]`` holds the input of ``module`` in its latest call (the keys of
    kNN-LM and kNN-MT are the input of the last feed-forward layer, after its LayerNorm)."""
    box = [None]
    handle = module.register_forward_pre_hook(lambda _, args: box.__setitem__(0, args[0]))
    try:
        yield box
    finally:
        handle.remove()


def neighbour_weights(neighbours: Neighbours, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (q, k), weights (q, k)): the softmax of −d/T over each query's neighbours."""
    d = torch.from_numpy(neighbours.distances).float()
    w = torch.nan_to_num(torch.softmax(-d / temperature, dim=-1))  # not found: d = inf, weight 0 (all: nan → 0)
    return torch.from_numpy(neighbours.values).long().clamp(min=0), w


def adaptive_lambda(nearest: torch.Tensor, settings: KNNSettings) -> torch.Tensor:
    """λ (q,) from each query's nearest squared distance; no neighbour found → 0."""
    return torch.nan_to_num(settings.lambda_max * torch.exp(-nearest / settings.sigma), nan=0.0)


def mix(logits: torch.Tensor, neighbours: Neighbours, settings: KNNSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p (q, V) of the interpolated distribution, λ (q,)) for the model's ``logits`` (q, V)."""
    lam = adaptive_lambda(torch.from_numpy(neighbours.distances[:, 0]).float(), settings)
    tokens, w = neighbour_weights(neighbours, settings.temperature)
    # p_kNN has at most k non-zeros a row: add λ p_kNN to (1 − λ) p_model in place, never building it
    p = (1 - lam[:, None]) * logits.float().softmax(-1).cpu()
    p.scatter_add_(1, tokens, lam[:, None] * w)
    return p.clamp(min=1e-30).log().to(logits.device), lam
