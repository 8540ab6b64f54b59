"""The training data of the translator, as token ids: the corpus split, the BPE tokenizer trained
on the training split, the English first words written as inside a sentence (first_word.py, when
the config asks for it), renamed copies of pairs that share a name (names.py), typed copies of short
pairs (typed.py), and a length filter."""

import logging
from dataclasses import dataclass

from scratchml.bpe import Tokenizer
from scratchml.translate.config import TrainConfig
from scratchml.translate.corpus import Splits, load_news, load_pairs, make_splits
from scratchml.translate.first_word import source_texts
from scratchml.translate.names import swap_names
from scratchml.translate.typed import typed_copies

log = logging.getLogger("scratchml.translate")
SPECIALS = ("<pad>", "<bos>", "<eos>")


@dataclass
class EncodedData:
    train_src: list[list[int]]
    train_tgt: list[list[int]]
    valid_src: list[list[int]]
    valid_tgt: list[list[int]]
    valid_text: list[tuple[str, str]]
    removed: int  # training pairs removed because they overlap a test set


def prepare_data(cfg: TrainConfig, tokenizer: Tokenizer | None, splits: Splits | None = None,
                 progress: bool = True, max_len: int = 256) -> tuple[Tokenizer, EncodedData]:
    """Split the corpus (unless ``splits`` is given), train the BPE tokenizer on the training split
    (unless ``tokenizer`` is given), and encode both splits. Training pairs longer than
    ``cfg.max_sentence_tokens`` are skipped, and so are pairs of either split that the model, with
    ``max_len`` positions (one of them <bos> or <eos>), cannot take."""
    if splits is None:
        news = load_news() if cfg.corpus == "tatoeba+news" else None
        splits = make_splits(load_pairs(), news=news, tatoeba_copies=cfg.tatoeba_copies,
                             phrase_copies=cfg.phrase_copies)
    train = splits.train
    if cfg.train_limit and cfg.train_limit < len(train):  # evenly spaced: every domain keeps its share
        train = [train[i * len(train) // cfg.train_limit] for i in range(cfg.train_limit)]
    log.info("corpus %s: %d training pairs, %d validation pairs, %d removed (they occur in a test set)",
             cfg.corpus, len(train), len(splits.valid), splits.removed)
    if tokenizer is None:
        texts = [en for en, _ in train] + [es for _, es in train]
        tokenizer = Tokenizer.train(texts, cfg.vocab_size, SPECIALS, progress=progress)
    if cfg.name_swap:                    # after the tokenizer, which is trained on the corpus as it is
        copies = swap_names(train, cfg.name_swap, cfg.seed)
        log.info("name swap: %d copies of pairs sharing a name, renamed", len(copies))
        train = train + copies
    if cfg.typed_copies:
        copies = typed_copies(train, cfg.typed_copies, cfg.seed)
        log.info("typed copies: %d short pairs with the English side lower-cased, without closing marks", len(copies))
        train = train + copies

    def encode(texts):
        return tokenizer.encode_batch(texts, allow_special=False)

    def encode_english(texts):
        return encode(source_texts(tokenizer, texts, cfg.first_word))

    def fits(src, tgt, limit):
        return [i for i in range(len(src)) if 0 < len(src[i]) <= limit and 0 < len(tgt[i]) <= limit]

    tr_src, tr_tgt = encode_english([en for en, _ in train]), encode([es for _, es in train])
    keep = fits(tr_src, tr_tgt, min(cfg.max_sentence_tokens, max_len - 1))
    va_src, va_tgt = encode_english([en for en, _ in splits.valid]), encode([es for _, es in splits.valid])
    valid = fits(va_src, va_tgt, max_len - 1)
    if len(valid) < len(va_src):
        log.info("validation: %d pairs longer than the model's %d positions skipped", len(va_src) - len(valid), max_len)
    data = EncodedData([tr_src[i] for i in keep], [tr_tgt[i] for i in keep], [va_src[i] for i in valid],
                       [va_tgt[i] for i in valid], [splits.valid[i] for i in valid], splits.removed)
    return tokenizer, data
