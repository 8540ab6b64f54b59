"""The English first word written as inside a sentence: the rule, and a model that keeps it."""

import logging

import pytest

from scratchml.bpe import Tokenizer
from scratchml.translate.checkpoint import load_model_dir
from scratchml.translate.first_word import inline_first_word, source_texts
from scratchml.translate.train import train
from scratchml.translate.translator import Translator
from tests.translate.conftest import toy_config

# Token counts of a vocabulary that holds " water", " Tom" and " I" whole, " Water" not.
WHOLE = {" water", " Tom", " I", " tom", " i"}


def count(text: str) -> int:
    return 1 if text in WHOLE else len(text)


@pytest.mark.parametrize("text, expected", [
    ("Water, please.", " water, please."),  # " water" is 1 token, " Water" 6
    ("Tom is here.", " Tom is here."),      # a tie keeps the capital: names stay names
    ("I'm fine.", " I'm fine."),
    ("NASA is big.", " NASA is big."),      # capitals only: kept
    ("water", " water"),
    ("  Water.", " water."),
    ('"Water," he said.', ' "Water," he said.'),  # the space goes before the quote
    ("123 apples.", "123 apples."),         # no space before a digit: it would be a token alone
    ("¿Qué?", "¿Qué?"),
    ("", ""),
])
def test_first_word_takes_its_inner_form_where_that_is_fewer_tokens(text, expected):
    assert inline_first_word(text, count) == expected


def test_a_trained_tokenizer_then_reads_the_first_word_as_one_token():
    # " water" is frequent inside sentences; "Water" starts one sentence only.
    corpus = ["we drink water and they drink water"] * 50 + ["Water is wet"]
    tok = Tokenizer.train(corpus, 256 + 10, (), progress=False)
    assert len(tok.encode("Water")) > 1
    [inline] = source_texts(tok, ["Water is wet"])
    assert inline == " water is wet"
    assert tok.encode(inline)[0] == tok.encode(" water")[0]
    assert source_texts(tok, ["Water is wet"], "as-written") == ["Water is wet"]


def test_a_model_trained_inline_reads_its_input_inline(tmp_path, toy_splits):
    train(toy_config(max_steps=2, first_word="inline"), tmp_path, splits=toy_splits, progress=False)
    translator = Translator(*load_model_dir(tmp_path / "checkpoint"))
    assert translator.first_word == "inline"
    tok = translator.tokenizer
    assert translator.segment("dog sees cat") == [tok.encode(" dog sees cat", allow_special=False)]
    assert translator.segment("dog sees cat") != [tok.encode("dog sees cat", allow_special=False)]


def test_fine_tuning_with_the_other_reading_warns(tmp_path, toy_splits, caplog):
    train(toy_config(max_steps=2, first_word="inline"), tmp_path / "a", splits=toy_splits, progress=False)
    logger = logging.getLogger("scratchml.translate")  # the command line may have stopped it from propagating
    logger.addHandler(caplog.handler)
    try:
        train(toy_config(max_steps=4), tmp_path / "b", splits=toy_splits, progress=False,
              init=tmp_path / "a" / "checkpoint")
    finally:
        logger.removeHandler(caplog.handler)
    assert any("--first-word inline" in r.getMessage() for r in caplog.records)


def test_an_unknown_first_word_setting_is_refused():
    with pytest.raises(Exception, match="first_word"):
        toy_config(first_word="lower")
