"""The simulated annotator: a stand-in for a person who reads two continuations of the same prompt
and says which one is the more positive review.

People do not answer like a threshold: two similar continuations get either answer, and the clearer
the difference the more often the same one wins. The Bradley–Terry model (Bradley & Terry 1952),
which reward models assume too (Christiano et al. 2017; Ouyang et al. 2022), says exactly that:

    P(A is preferred to B) = σ((s_A − s_B) / τ)

with s the sentiment classifier's logit of the prompt plus the continuation, and τ the annotator's
noise. τ → 0 is a perfectly consistent judge; a larger τ flips more of the close calls. The answer is
*sampled* from that probability, so an experiment sees the disagreement real labels have.

The default τ is 1/4. The classifier was fitted on whole reviews; on a prompt and 48 new tokens its
logits differ little (median |s_A − s_B| ≈ 0.9 on π_ref's pairs), and at τ = 1 the judge would give
its own likelier answer only 73 % of the time — labels noisier than the noiseless ones of the DPO
paper's IMDb experiment, and no longer about sentiment so much as chance. At τ = 1/4 it agrees with
itself 90 % of the time: close calls still go either way.
"""

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.rlhf.config import ANNOTATOR_NOISE
from scratchml.rlhf.sentiment import SentimentClassifier


class SimulatedAnnotator:
    def __init__(self, classifier: SentimentClassifier, noise: float = ANNOTATOR_NOISE, seed: int = 0):
        if not noise >= 0:
            raise ScratchMLError(f"the annotator's noise must be 0 or more, got {noise}")
        self.classifier, self.noise = classifier, noise
        self.rng = np.random.default_rng(seed)

    def probability_a(self, texts_a: list[str], texts_b: list[str]) -> np.ndarray:
        """P(A is preferred to B) for each pair, shape (N,)."""
        if len(texts_a) != len(texts_b):
            raise ScratchMLError(f"{len(texts_a)} first texts but {len(texts_b)} second ones")
        diff = self.classifier.logits(texts_a) - self.classifier.logits(texts_b)
        if self.noise == 0:
            return np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
        return 0.5 * (1.0 + np.tanh(0.5 * diff / self.noise))

    def prefers_a(self, texts_a: list[str], texts_b: list[str]) -> np.ndarray:
        """A sampled judgment for each pair: True where A is preferred, shape (N,) bool."""
        p = self.probability_a(texts_a, texts_b)
        return self.rng.random(len(p)) < p
