"""Preference pairs: two continuations of one prompt, sampled from the reference policy, and which
of the two the annotator preferred.

Both the reward model and DPO learn from these pairs. Each is sampled from π_ref (the GPT before any
tuning), as in the DPO paper's IMDb experiment: the preferences then describe the text the policy
starts from, and DPO's implicit reward is anchored to the same distribution.

A pair is one JSON line:
    {"prompt": text, "a": text, "b": text, "choice": "a" | "b", "p_a": P(a preferred),
     "prompt_ids": [...], "a_ids": [...], "b_ids": [...], "annotator": "simulated"}
The token ids are kept because decoding then encoding again need not give the same ids back; pairs
labelled by people (``scratchml rlhf label``) carry only the texts, and are encoded when read. People
may also answer "tie" or "skip": such lines say nothing about which continuation is better, and
reading leaves them out.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.files import write_text_atomic
from scratchml.llm import GPT
from scratchml.rlhf.annotator import SimulatedAnnotator
from scratchml.rlhf.rollout import sample


@dataclass
class Pair:
    prompt: str
    a: str
    b: str
    choice: str                 # "a" or "b": the preferred one
    prompt_ids: list[int] = field(default_factory=list)
    a_ids: list[int] = field(default_factory=list)   # continuation tokens, end-of-text included if it stopped
    b_ids: list[int] = field(default_factory=list)
    p_a: float | None = None
    annotator: str = "simulated"
    time: str | None = None     # when a person judged it (UTC, ISO 8601)

    def chosen_rejected(self) -> tuple[list[int], list[int]]:
        return (self.a_ids, self.b_ids) if self.choice == "a" else (self.b_ids, self.a_ids)


def sample_pairs(model: GPT, tokenizer: Tokenizer, prompts: list[list[int]], annotator: SimulatedAnnotator,
                 max_new_tokens: int = 48, batch_size: int = 64, seed: int = 0, progress: bool = True) -> list[Pair]:
    """Two continuations of each prompt from ``model``, judged by ``annotator`` on prompt + continuation."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    bar = tqdm(total=len(prompts), desc="pairs", unit="pair", disable=not progress, dynamic_ncols=True)
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i:i + batch_size]
        a = sample(model, tokenizer, chunk, max_new_tokens, generator=generator)
        b = sample(model, tokenizer, chunk, max_new_tokens, generator=generator)
        p_a = annotator.probability_a(a.texts, b.texts)
        prefers_a = annotator.rng.random(len(chunk)) < p_a
        eot = model.cfg.eot_id
        for j, prompt in enumerate(chunk):
            a_text, b_text = (tokenizer.decode([t for t in r.continuations[j] if t != eot]) for r in (a, b))
            pairs.append(Pair(tokenizer.decode(prompt[1:]), a_text, b_text, "a" if prefers_a[j] else "b",
                              prompt, a.continuations[j], b.continuations[j], round(float(p_a[j]), 6)))
        bar.update(len(chunk))
    bar.close()
    return pairs


def save_pairs(path, pairs: list[Pair]) -> None:
    write_text_atomic(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs))


def read_pair_texts(path) -> list[Pair]:
    """The pairs of a JSON-lines file as texts, without tokenizing (for people to judge)."""
    return _read(path, keep_undecided=True)


def _read(path, keep_undecided: bool) -> list[Pair]:
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise ScratchMLError(f"{path}: no such preference file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScratchMLError(f"cannot read {path}: {e}") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            pair = Pair(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as e:
            raise ScratchMLError(f"{path} line {n} is not a preference pair ({e})") from None
        if pair.choice not in ("a", "b", "tie", "skip") or \
                not all(isinstance(t, str) for t in (pair.prompt, pair.a, pair.b)):
            raise ScratchMLError(f"{path} line {n}: choice must be a, b, tie or skip and the texts strings")
        if keep_undecided or pair.choice in ("a", "b"):
            pairs.append(pair)
    if not pairs:
        raise ScratchMLError(f"{path} holds no preference pairs")
    return pairs


def pair_commands(folder) -> list[str]:
    """The commands that made a folder of pairs (``commands.json``, written by ``scratchml rlhf pairs``);
    [] for pairs from elsewhere, such as people's judgments."""
    path = Path(folder) / "commands.json"
    try:
        commands = json.loads(path.read_text(encoding="utf-8"))["commands"]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ScratchMLError(f"cannot read {path}: {e}") from None
    if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
        raise ScratchMLError(f"{path}: 'commands' must be a list of strings")
    return commands


def load_pairs(path, tokenizer: Tokenizer, eot_id: int) -> list[Pair]:
    """Pairs from a JSON-lines file; ids are filled in from the texts where a line has none."""
    pairs = _read(path, keep_undecided=False)
    for pair in pairs:
        if not pair.prompt_ids:
            pair.prompt_ids = [eot_id] + tokenizer.encode(pair.prompt, allow_special=False)
        for side in ("a", "b"):
            if not getattr(pair, f"{side}_ids"):
                ids = tokenizer.encode(getattr(pair, side), allow_special=False)
                if not ids:
                    raise ScratchMLError(f"{path}: a continuation {side} is empty ({pair.prompt[:40]!r})")
                setattr(pair, f"{side}_ids", ids)
    return pairs
