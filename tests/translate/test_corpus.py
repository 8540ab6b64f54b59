"""The training/validation split, News Commentary by article, and the unseen test subsets."""

import pytest
from hypothesis import given, settings, strategies as st

from scratchml.translate import corpus
from scratchml.translate.corpus import load_testset, make_splits
from scratchml.translate.overlap import NearDuplicates, tokens, within_one_edit


def levenshtein(a, b) -> int:
    """The textbook dynamic programme, as an independent reference."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


words = st.lists(st.sampled_from("a b c d".split()), max_size=6).map(tuple)


@settings(max_examples=300, deadline=None)
@given(words, words)
def test_within_one_edit_is_levenshtein_at_most_one(a, b):
    assert within_one_edit(a, b) == (levenshtein(a, b) <= 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(words, min_size=1, max_size=12), words)
def test_near_duplicate_index_finds_exactly_the_sentences_within_one_edit(corpus_words, query):
    sentences = [" ".join(s) for s in corpus_words]
    expected = any(levenshtein(tokens(s), query) <= 1 for s in sentences)
    assert (" ".join(query) in NearDuplicates(sentences)) == expected


def test_tokens_ignore_case_and_split_punctuation():
    assert tokens("I'm HOME!") == ("i", "'", "m", "home", "!")


def test_news_is_split_by_article_and_newstest_pairs_are_removed(monkeypatch):
    monkeypatch.setattr(corpus, "load_testset", lambda name: (["The euro fell."], ["El euro cayó."]))
    news = [(f"article-{a}", f"Sentence {i} of article {a}.", f"Frase {i} del artículo {a}.")
            for a in range(300) for i in range(3)]
    news.append(("article-0", "The euro fell.", "Una frase cualquiera."))
    tatoeba = [(f"Hello number {i}.", f"Hola número {i}.") for i in range(200)]
    splits = make_splits(tatoeba, news=news, news_valid_fraction=0.1, tatoeba_copies=2)
    assert splits.removed == 1
    held_out = {a for a in range(300) if f"Sentence 0 of article {a}." in {en for en, _ in splits.valid}}
    assert 0 < len(held_out) < 300
    for a in range(300):  # every sentence of an article is on the side of its first
        sides = {f"Sentence {i} of article {a}." in {en for en, _ in splits.valid} for i in range(3)}
        assert sides == {a in held_out}
    tatoeba_train = [p for p in splits.train if p[0].startswith("Hello")]
    assert len(tatoeba_train) == 2 * len(set(tatoeba_train))
    first = splits.valid[:2]  # the validation split alternates the domains
    assert first[0][0].startswith("Hello") and first[1][0].startswith("Sentence")


def test_nothing_is_removed_from_tatoeba_for_the_test_sets(monkeypatch):
    monkeypatch.setattr(corpus, "load_testset", lambda name: pytest.fail("the split must not read a test set"))
    pairs = [(f"Hello number {i}.", f"Hola número {i}.") for i in range(200)]
    splits = make_splits(pairs)
    assert splits.removed == 0 and len(splits.train) + len(splits.valid) == len(pairs)


def test_phrases_get_extra_copies_and_validation_none():
    pairs = [("Good morning.", "Buenos días."), ("Where is the train station?", "¿Dónde está la estación?")]
    pairs += [(f"Hello number {i}.", f"Hola número {i}.") for i in range(100)]
    pairs += [(f"I counted to {i} today.", f"Hoy conté hasta {i}.") for i in range(100)]
    plain = make_splits(pairs, tatoeba_copies=2)
    assert {len(en.split()) for en, _ in plain.train} >= {3, 5}
    more = make_splits(pairs, tatoeba_copies=2, phrase_copies=3)
    assert more.valid == plain.valid
    for en, es in set(plain.train):      # three words or four: a phrase; five: not
        expected = 2 + 3 * (len(en.split()) <= 4)
        assert more.train.count((en, es)) == expected and plain.train.count((en, es)) == 2


@pytest.mark.dataset("en-es")
@pytest.mark.dataset("en-es-test")
def test_unseen_subsets_of_tatoeba_test():
    pairs = corpus.load_pairs()
    english, spanish = {en for en, _ in pairs}, {es for _, es in pairs}
    unseen_en, unseen_es = load_testset("tatoeba-unseen")
    distant_en, _ = load_testset("tatoeba-distant")
    assert (len(unseen_en), len(distant_en)) == (3861, 3196)
    assert not set(unseen_en) & english and not set(unseen_es) & spanish
    assert "Good morning!" not in unseen_en  # spa.txt has "Good morning.": seen, up to punctuation
    assert set(distant_en) <= set(unseen_en)
    near = NearDuplicates(english)
    assert all(en not in near for en in distant_en[:200])


def test_train_limit_keeps_both_domains_in_proportion():
    from scratchml.translate.config import TrainConfig
    from scratchml.translate.corpus import Splits
    from scratchml.translate.dataset import prepare_data

    short = [(f"I see {i}.", f"Veo {i}.") for i in range(300)]
    news = [(f"The markets fell {i} percent today.", f"Los mercados cayeron {i} por ciento hoy.") for i in range(100)]
    splits = Splits(train=short + news, valid=short[:2])
    cfg = TrainConfig(size="tiny", vocab_size=300, train_limit=40)
    tokenizer, data = prepare_data(cfg, None, splits, progress=False)
    sources = [tokenizer.decode(ids) for ids in data.train_src]
    assert len(sources) == 40
    assert sum("markets" in s for s in sources) == 10  # a quarter of the corpus is news, a quarter of the limit
