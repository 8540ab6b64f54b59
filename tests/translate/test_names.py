"""Copies of pairs that share a name, renamed on both sides with invented names."""

import random

import pytest
import regex

from scratchml.translate.names import find_names, invent_name, shared_names, swap_names

PAIRS = [
    ("Tom is here.", "Tom está aquí."),
    ("I saw Tom and Mary in Boston.", "Vi a Tom y a Mary en Boston."),
    ("Tom's dog is big.", "El perro de Tom es grande."),
    ("I live in Japan.", "Vivo en Japón."),                 # a name, but not written the same in Spanish
    ("Tomorrow is Monday.", "Mañana es lunes."),
    ("Will you come?", "¿Vendrás?"),
    ("I will go with Mary.", "Iré con Mary."),
    ("He can't go.", "Él no puede ir."),
]


def test_names_are_capitalized_words_after_the_first():
    names = find_names(PAIRS)
    assert {"Tom", "Mary", "Boston", "Japan", "Monday"} <= names
    assert "Will" not in names and "Tomorrow" not in names and "I" not in names


def test_shared_names_are_written_the_same_on_both_sides():
    names = find_names(PAIRS)
    assert shared_names(*PAIRS[1], names) == ["Tom", "Mary", "Boston"]
    assert shared_names(*PAIRS[3], names) == []
    assert shared_names("Tomas is here.", "Tomas está aquí.", {"Tom"}) == []  # whole words only


def test_every_shared_name_is_replaced_by_one_invented_name_on_both_sides():
    copies = swap_names(PAIRS, fraction=1.0, seed=3)
    originals = [PAIRS[0], PAIRS[1], PAIRS[2], PAIRS[6]]     # the pairs that share a name
    assert len(copies) == len(originals)
    names = find_names(PAIRS)
    words = lambda text: regex.findall(r"\p{L}+", text)  # noqa: E731
    for (en, es), (orig_en, orig_es) in zip(copies, originals):
        renamed = {old: new for old, new in zip(words(orig_en), words(en)) if old != new}
        assert sorted(renamed) == sorted(shared_names(orig_en, orig_es, names))
        assert all(new not in names and new[0].isupper() for new in renamed.values())
        assert len(set(renamed.values())) == len(renamed)   # two names stay two names
        for old, new in renamed.items():                    # the same renaming on both sides, nothing else
            orig_en, orig_es = orig_en.replace(old, new), orig_es.replace(old, new)
        assert (en, es) == (orig_en, orig_es)


def test_the_fraction_and_the_seed_decide_the_copies():
    many = PAIRS * 250                                       # 1,000 pairs sharing a name
    assert swap_names(many, 0.0) == []
    assert swap_names(many, 0.3, seed=1) == swap_names(many, 0.3, seed=1)
    assert swap_names(many, 0.3, seed=1) != swap_names(many, 0.3, seed=2)
    assert 0.25 < len(swap_names(many, 0.3)) / 1000 < 0.35
    with pytest.raises(ValueError, match="within 0..1"):
        swap_names(PAIRS, 1.5)


def test_invented_names_vary():
    rng = random.Random(0)
    names = [invent_name(rng) for _ in range(1000)]
    assert len(set(names)) > 900
    assert all(n[0].isupper() and n[1:].islower() and n.isalpha() for n in names)
