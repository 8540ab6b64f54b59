"""The reward model: our GPT with a scalar head, trained on preference pairs (Bradley–Terry).

r(x, y) reads the GPT's final hidden state at the last token of prompt x + continuation y through
one linear layer: the last position is the only one that has seen the whole text (Stiennon et al.
2020; Ouyang et al. 2022). Training assumes the preferences follow Bradley–Terry,
P(y_w ≻ y_l) = σ(r(x, y_w) − r(x, y_l)), and minimizes −log σ(r(x, y_w) − r(x, y_l)) over the pairs:
only differences of rewards are learned, so a constant can be added to r at will.

Normalization: after training, the rewards of continuations sampled from π_ref are measured and r is
shifted and scaled to mean 0, standard deviation 1 under π_ref (as Ziegler et al. 2019 do), so that
a KL coefficient means the same whatever scale training happened to give r.

Shapes: B texts, T tokens, C width.
"""

import json
import math
import shutil
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import resolve, swap_in
from scratchml.llm import GPT, GPTConfig
from scratchml.rlhf.rollout import pack

FORMAT = "scratchml-reward"


class RewardModel(nn.Module):
    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt
        self.head = nn.Linear(gpt.cfg.d_model, 1)
        # a small random head: the first rewards are near 0 and training sets their scale
        nn.init.normal_(self.head.weight, std=1 / math.sqrt(gpt.cfg.d_model + 1))
        nn.init.zeros_(self.head.bias)
        self.register_buffer("offset", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))

    def raw(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask (B, T), prompts left-padded and continuations right-padded -> rewards (B,)."""
        h = self.gpt.hidden(ids, mask)  # (B, T, C)
        positions = torch.arange(ids.size(1), device=ids.device)
        last = (mask * positions).argmax(-1)  # (B,) the last real token of each row
        return self.head(h[torch.arange(ids.size(0)), last]).squeeze(-1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalized rewards (B,): mean 0, standard deviation 1 under π_ref."""
        return (self.raw(ids, mask) - self.offset) / self.scale

    @torch.inference_mode()
    def score(self, prompts: list[list[int]], continuations: list[list[int]], batch_size: int = 64) -> torch.Tensor:
        """Normalized rewards (N,) of prompt + continuation token ids."""
        was_training = self.training
        self.eval()
        out = []
        for i in range(0, len(prompts), batch_size):
            packed = pack(prompts[i:i + batch_size], continuations[i:i + batch_size], self.gpt.cfg.eot_id)
            out.append(self(packed.ids, packed.mask).float())
        self.train(was_training)
        return torch.cat(out)

    def normalize(self, raw_rewards: torch.Tensor) -> None:
        """Set the shift and scale from the raw rewards of π_ref's samples."""
        self.offset.fill_(raw_rewards.mean().item())
        self.scale.fill_(max(raw_rewards.std().item(), 1e-6))


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """−log σ(r_w − r_l), averaged; logsigmoid keeps large margins from underflowing."""
    return -F.logsigmoid(chosen - rejected).mean()


def save(path, model: RewardModel, tokenizer: Tokenizer, meta: dict,
         train_state: dict[str, torch.Tensor] | None = None, extra_files: dict[str, str] | None = None,
         half: bool | None = None) -> None:
    """A folder like a GPT's (model.safetensors, config.json, tokenizer.json), written atomically;
    a training checkpoint adds ``train_state.safetensors``, a finished model its card. ``half``: the
    GPT's weights in float16 (default: for a finished model, not for a checkpoint)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # a finished model keeps the GPT's weights in float16, as the GPT's own folders do (half the size,
    # no measurable change in its scores); the head and the normalization stay in float32
    half = train_state is None if half is None else half
    save_file({k: (v.half() if half and k.startswith("gpt.") else v.float()).detach().contiguous()
               for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps({"format": FORMAT, "model": model.gpt.cfg.to_dict(), **meta}, indent=1))
    tokenizer.save(tmp / "tokenizer.json")
    if train_state is not None:
        save_file({k: v.contiguous() for k, v in train_state.items()}, tmp / "train_state.safetensors")
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    swap_in(tmp, path)


def load(path) -> tuple[RewardModel, Tokenizer, dict]:
    path = resolve(Path(path))
    try:
        meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ScratchMLError(f"{path} is not a reward model folder (format {FORMAT!r} expected)")
        model = RewardModel(GPT(GPTConfig(**meta["model"])))
        model.load_state_dict(load_file(path / "model.safetensors"))
        tokenizer = Tokenizer.load(path / "tokenizer.json")
    except FileNotFoundError as e:
        raise ScratchMLError(f"{path} is not a reward model folder (no {Path(e.filename).name})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SafetensorError, KeyError, TypeError,
            RuntimeError) as e:
        raise ScratchMLError(f"{path}: cannot read the reward model ({e})") from None
    return model, tokenizer, meta
