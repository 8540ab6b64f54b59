"""``should_stop``: decoding asks it before each step and stops with ``DecodingCancelled`` when it
says so; unused, or always False, it changes nothing; and work done inside it (another decode on
the same model, as the server does to let short requests cut in) leaves both decodes' outputs as
they would be alone."""

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.translate.config import preset
from scratchml.translate.decode import DecodingCancelled, beam_search, decode_sorted, greedy_decode
from scratchml.translate.model import Transformer
from scratchml.translate.translator import Translator

TEXTS = ["The cat sees the dog.", "How are you today?"]


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return Transformer(preset("tiny", vocab_size=50)).eval()


def _tiny_translator() -> Translator:
    tok = Tokenizer.train(TEXTS * 4, vocab_size=280, special_tokens=("<pad>", "<bos>", "<eos>"), progress=False)
    sp = tok.special_tokens
    torch.manual_seed(0)
    cfg = preset("tiny", vocab_size=tok.vocab_size, pad_id=sp["<pad>"], bos_id=sp["<bos>"], eos_id=sp["<eos>"])
    return Translator(Transformer(cfg), tok)


def _counting(model):
    """Count the model's decoding steps (calls of ``model.decode``), independently of should_stop."""
    calls = []
    decode = model.decode
    model.decode = lambda *a, **k: calls.append(1) or decode(*a, **k)
    return calls


DECODERS = {
    "greedy": lambda model, src, n, stop=None: greedy_decode(model, src, n, should_stop=stop),
    "beam": lambda model, src, n, stop=None: beam_search(model, src, n, beam=3, alpha=0.6, should_stop=stop),
}


@pytest.mark.parametrize("name", DECODERS)
def test_should_stop_is_asked_once_before_each_step(name):
    model, decode = _tiny_model(), DECODERS[name]
    src = torch.randint(3, 50, (3, 7))
    steps, asks = _counting(model), []
    out = decode(model, src, 20, lambda: asks.append(1) or False)
    assert len(asks) == len(steps) > 0
    assert out == decode(_tiny_model(), src, 20) == decode(_tiny_model(), src, 20, lambda: False)


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("stop_at", [1, 4])
def test_true_stops_before_the_next_step(name, stop_at):
    model, decode = _tiny_model(), DECODERS[name]
    steps, asks = _counting(model), []

    def should_stop():
        asks.append(1)
        return len(asks) == stop_at

    with pytest.raises(DecodingCancelled, match="cancelled"):
        decode(model, torch.randint(3, 50, (2, 6)), 30, should_stop)
    assert len(asks) == stop_at and len(steps) == stop_at - 1  # not one step more


def test_decode_sorted_and_the_translator_pass_it_on():
    model = _tiny_model()
    sources = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    steps = _counting(model)
    with pytest.raises(DecodingCancelled):
        decode_sorted(model, sources, beam=2, batch_size=1, should_stop=lambda: len(steps) >= 3)
    assert len(steps) == 3  # it stops within the first of three batches
    translator = _tiny_translator()
    with pytest.raises(DecodingCancelled):
        translator.translate(TEXTS, should_stop=lambda: True)
    assert translator.translate(TEXTS, beam=2) == translator.translate(TEXTS, beam=2, should_stop=lambda: False)


@pytest.mark.parametrize("outer, inner", [("greedy", "beam"), ("beam", "greedy"), ("beam", "beam")])
def test_a_decode_inside_should_stop_leaves_both_outputs_unchanged(outer, inner):
    model = _tiny_model()
    long_src, short_src = torch.randint(3, 50, (2, 9)), torch.randint(3, 50, (3, 4))
    alone_long = DECODERS[outer](model, long_src, 25)
    alone_short = DECODERS[inner](model, short_src, 10)
    asks, nested = [], []

    def cut_in():
        asks.append(1)
        if len(asks) in (3, 5):  # between two steps of the long decode, twice
            nested.append(DECODERS[inner](model, short_src, 10))
        return False

    assert DECODERS[outer](model, long_src, 25, cut_in) == alone_long
    assert len(nested) == 2 and all(out == alone_short for out in nested)
