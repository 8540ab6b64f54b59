"""Reading what made a folder of preference pairs (present, absent for people's judgments, or corrupt), and
comparisons across prompts."""

import json

import pytest

from scratchml.errors import ScratchMLError
from scratchml.rlhf.annotator import SimulatedAnnotator
from scratchml.rlhf.preferences import Pair, cross_pairs, pair_commands
from scratchml.rlhf.sentiment import SentimentClassifier


def test_the_commands_of_a_pairs_folder_are_read_back(tmp_path):
    (tmp_path / "commands.json").write_text(json.dumps({"commands": ["scratchml rlhf pairs --out x"]}))
    assert pair_commands(tmp_path) == ["scratchml rlhf pairs --out x"]


def test_pairs_from_elsewhere_name_no_command(tmp_path):
    assert pair_commands(tmp_path) == []


@pytest.mark.parametrize("text", ["{", "[]", '{"commands": "scratchml"}', '{"commands": [1]}', '{"other": []}'])
def test_a_corrupt_commands_file_is_one_clear_error(tmp_path, text):
    (tmp_path / "commands.json").write_text(text)
    with pytest.raises(ScratchMLError, match="commands.json"):
        pair_commands(tmp_path)


def _source_pairs(tok):
    """Eight pairs over four prompts, each continuation a short review ending."""
    eot = tok.special_tokens["<|endoftext|>"]
    prompts = ["This movie", "A film", "The cast", "Bad"]
    endings = [" was great.", " was terrible.", " is good fun.", " is boring.", " great cast.", " bad plot."]
    pairs = []
    for k in range(8):
        prompt, a, b = prompts[k % 4], endings[k % 6], endings[(k + 1) % 6]
        pairs.append(Pair(prompt, a, b, "a", [eot] + tok.encode(prompt), tok.encode(a) + [eot], tok.encode(b)))
    return pairs, eot


def test_cross_pairs_judge_whole_texts_of_other_pairs(tiny):
    _, tok = tiny
    pairs, eot = _source_pairs(tok)
    clf = SentimentClassifier.fit(["great fun", "good cast great", "terrible boring", "bad plot bad"], [1, 1, 0, 0],
                                  min_df=1)
    new = cross_pairs(pairs, tok, SimulatedAnnotator(clf, noise=0), eot, rounds=3, seed=0)
    whole = {tok.decode(p.prompt_ids[1:]) + t: p for p in pairs for t in (p.a, p.b)}
    assert len(new) > 0
    for pair in new:
        assert pair.prompt == "" and pair.prompt_ids == [eot]
        source_a, source_b = whole[pair.a], whole[pair.b]
        assert source_a is not source_b                     # never the comparison the source pair made
        # the reward model reads the same tokens as in the source pair: prompt, then continuation
        side = "a" if pair.a == source_a.prompt + source_a.a else "b"
        assert pair.a_ids == source_a.prompt_ids[1:] + getattr(source_a, f"{side}_ids")
        # noiseless: the text the classifier scores higher wins
        s_a, s_b = clf.logits([pair.a, pair.b])
        if s_a != s_b:
            assert pair.choice == ("a" if s_a > s_b else "b")
    texts = [t for p in new for t in (p.a, p.b)]
    assert max(texts.count(t) for t in set(texts)) <= 3    # each text in at most `rounds` comparisons


def test_cross_pairs_need_enough_texts_and_rounds(tiny):
    _, tok = tiny
    pairs, eot = _source_pairs(tok)
    annotator = SimulatedAnnotator(SentimentClassifier.fit(["good", "bad"], [1, 0], min_df=1))
    with pytest.raises(ScratchMLError, match="rounds"):
        cross_pairs(pairs, tok, annotator, eot, rounds=0)
    with pytest.raises(ScratchMLError, match="too few"):
        cross_pairs(pairs[:1], tok, annotator, eot)
