"""Typed copies of short training pairs (translate/typed.py)."""

import pytest

from scratchml.translate.typed import typed_copies, typed_form


@pytest.mark.parametrize("written, typed", [
    ("Thank you.", "thank you"), ("Where is the bathroom?", "where is the bathroom"),
    ("Help!", "help"), ("Wait...", "wait"), ("I'm from Canada.", "i'm from canada"), ("ok", "ok"),
])
def test_typed_form_is_lower_case_without_closing_marks(written, typed):
    assert typed_form(written) == typed


def test_typed_copies_are_of_short_pairs_that_change_with_the_spanish_side_kept():
    short = [(f"I see number {i}.", f"Veo el número {i}.") for i in range(2000)]
    long = [("This sentence has far more than ten words in it, so nobody types it.", "Larga.")] * 500
    unchanged = [("ok", "vale")] * 500
    copies = typed_copies(short + long + unchanged, 0.25, seed=1)
    assert 400 < len(copies) < 600  # a quarter of the 2,000 short pairs that change
    assert all(en == typed_form(en) and en.startswith("i see number ") for en, _ in copies)
    assert {es for _, es in copies} <= {es for _, es in short}
    assert copies == typed_copies(short + long + unchanged, 0.25, seed=1)
    with pytest.raises(ValueError):
        typed_copies(short, 1.5)


def test_prepare_data_adds_typed_copies_to_the_training_split_only():
    from scratchml.translate.config import TrainConfig
    from scratchml.translate.corpus import Splits
    from scratchml.translate.dataset import prepare_data

    pairs = [(f"I see {i}.", f"Veo {i}.") for i in range(50)]
    splits = Splits(train=pairs, valid=pairs[:5])
    tokenizer, plain = prepare_data(TrainConfig(size="tiny", vocab_size=300), None, splits, progress=False)
    _, typed = prepare_data(TrainConfig(size="tiny", vocab_size=300, typed_copies=1.0), tokenizer, splits,
                            progress=False)
    assert len(typed.train_src) == 100 and typed.valid_src == plain.valid_src
    assert tokenizer.decode(typed.train_src[50]) == "i see 0"
