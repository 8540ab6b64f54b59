"""``scratchml nmt train|eval|attention|export|serve|datastore|neighbours`` and ``scratchml translate``."""

import json
import sys
from pathlib import Path

from scratchml.cli.nmt_knn import add_knn_options, knn_decoder, register_knn
from scratchml.cli.stdin import read_stdin_lines
from scratchml.cli.torch_options import THREADS_HELP, add_bf16, set_threads
from scratchml.errors import ScratchMLError

_NORMALIZE_HELP = ("feed the text to the model as it is, without the training sentences' capital first letter "
                   "and closing mark (see scratchml/translate/normalize.py)")
_SPLIT_HELP = ("translate each text in one pass (when it fits the model) instead of sentence by sentence "
               "(see scratchml/translate/sentences.py)")


def _train(args) -> None:
    from dataclasses import fields

    from scratchml.translate import TrainConfig, init_distributed, pick_device, train_translator

    set_threads(args.threads)
    device = pick_device(args.device)
    init_distributed(device)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    result = train_translator(cfg, args.out, resume=args.resume, device=device, init=args.init)
    result.pop("step_losses")
    print(json.dumps(result))


def _eval(args) -> None:
    from scratchml.files import write_text_atomic
    from scratchml.translate import Translator, evaluate_translator

    set_threads(args.threads)
    translator = Translator.load(args.model, bf16=args.bf16)
    options = {} if args.length_penalty is None else {"alpha": args.length_penalty}
    knn = knn_decoder(args, translator)
    result = evaluate_translator(translator, args.testset, beam=args.beam, limit=args.limit, progress=True,
                                 normalize=args.normalize, split=args.split, knn=knn, **options)
    result["knn"] = args.knn
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # whole or not at all: `nmt export --eval` reads the scores back into a model card
    write_text_atomic(out / "eval.json", json.dumps(result, ensure_ascii=False, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "hypotheses"}))


# Inputs beyond these take from seconds to hours to translate on a CPU: long enough for a silent
# terminal to look hung, so such work shows a progress bar (sentences done, rate, time left).
_PROGRESS_TEXTS = 20
_PROGRESS_CHARS = 2000


def _translate(args) -> None:
    set_threads(args.threads)
    texts = args.text if args.text else read_stdin_lines()
    if not any(t.strip() for t in texts):
        raise ScratchMLError("nothing to translate: the text is empty")
    from scratchml.translate import Translator  # after the input checks: importing torch takes seconds

    memory_pairs = None
    if args.memory:
        from scratchml.translate.datastore import read_pairs_tsv

        memory_pairs = read_pairs_tsv(args.memory)  # a bad file: an error before any model is loaded
    translator = Translator.load(args.model, bf16=args.bf16)
    # The bar goes to stderr only when it is a terminal: in a log file, its redraws would be noise.
    large = len(texts) > _PROGRESS_TEXTS or sum(map(len, texts)) > _PROGRESS_CHARS
    progress = large and sys.stderr is not None and sys.stderr.isatty()
    options = dict(beam=args.beam, progress=progress, normalize=args.normalize, split=args.split)
    knn = knn_decoder(args, translator)
    if memory_pairs:
        from scratchml.translate.memory import TranslationMemory

        memory = TranslationMemory(translator, knn.datastore)
        added = memory.add(memory_pairs)
        print(f"scratchml: translation memory: {added} new pairs, {len(memory)} in all", file=sys.stderr)
        lines = memory.translate(texts, **options)
    else:
        lines = translator.translate(texts, knn=knn, **options)
    for line in lines:
        print(line)


def _attention(args) -> None:
    from scratchml.translate import Translator, plot_attention

    translator = Translator.load(args.model, bf16=args.bf16)
    src, tgt, weights = translator.cross_attention(args.sentence, beam=args.beam, normalize=args.normalize)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plot_attention(src, tgt, weights, Path(args.out))
    print(translator.translate(args.sentence, beam=args.beam, normalize=args.normalize))
    print(f"attention heatmaps written to {args.out}", file=sys.stderr)


def _export(args) -> None:
    from scratchml.translate import load_model_dir, save_model_dir, write_card

    model, tokenizer, meta = load_model_dir(args.checkpoint)
    save_model_dir(args.out, model, tokenizer, {k: v for k, v in meta.items() if k != "model"}, half=True)
    write_card(Path(args.out) / "README.md", meta, model.num_parameters(), args.eval or [])
    print(f"wrote {args.out} (float16 weights, {model.num_parameters() / 1e6:.2f} M parameters, model card)")


def _serve(args) -> None:
    from scratchml.serve.config import ServeConfig
    from scratchml.serve.server import serve

    cfg = ServeConfig(max_chars=args.max_chars, max_texts=args.max_texts, batching=args.batching,
                      max_batch_texts=args.max_batch_texts, max_wait_ms=args.max_wait_ms,
                      decode_chunk=args.decode_chunk, queue_size=args.queue_size, timeout_s=args.timeout,
                      threads=args.threads, bf16=args.bf16, max_text_tokens=args.max_text_tokens,
                      max_request_tokens=args.max_request_tokens, chunk_tokens=args.chunk_tokens,
                      short_tokens=args.short_tokens, body_timeout_s=args.body_timeout,
                      idle_timeout_s=args.idle_timeout, max_connections=args.max_connections,
                      allowed_hosts=tuple(args.allowed_hosts.split(",")), knn=args.knn, datastore=args.datastore)
    serve(args.model, args.host, args.port, cfg, workers=args.workers)


def register(sub) -> None:
    from scratchml.translate.config import FIRST_WORD, TrainConfig  # no torch: ``scratchml --help`` stays instant

    d = TrainConfig()
    nmt = sub.add_parser("nmt", help="English->Spanish Transformer: train, evaluate, inspect")
    nsub = nmt.add_subparsers(dest="nmt_command", required=True, metavar="COMMAND")

    t = nsub.add_parser("train", help="train the translator (default: the 80-minute CPU recipe)")
    t.add_argument("--out", default="runs/nmt", help="output folder (checkpoint/, metrics.csv, training.png)")
    t.add_argument("--resume", action="store_true",
                   help="continue OUT/checkpoint exactly where it stopped; training settings such as "
                   "--dropout or --max-steps may change (each change is recorded as a stage)")
    t.add_argument("--init", metavar="MODEL",
                   help="fine-tune an exported model (e.g. models/en-es): its weights and tokenizer, a new optimizer; "
                   "the schedule, --max-steps and --minutes go on from the steps and minutes it has trained")
    t.add_argument("--size", default=d.size, choices=["tiny", "small", "medium", "base"])
    t.add_argument("--minutes", type=float, default=d.minutes, help="training time budget (0: no limit)")
    t.add_argument("--max-epochs", type=int, default=d.max_epochs)
    t.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after N optimizer steps (0: no limit)")
    t.add_argument("--cooldown-steps", type=int, default=d.cooldown_steps,
                   help="decay the learning rate linearly to 0 over the last N of --max-steps")
    t.add_argument("--max-tokens", type=int, default=d.max_tokens, help="padded tokens per batch")
    t.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    t.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    t.add_argument("--dropout", type=float, default=d.dropout)
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--clip-norm", type=float, default=d.clip_norm, help="gradient norm clip (0: off)")
    t.add_argument("--vocab-size", type=int, default=d.vocab_size, help="BPE vocabulary of a new run")
    t.add_argument("--max-sentence-tokens", type=int, default=d.max_sentence_tokens,
                   help="skip longer training pairs")
    t.add_argument("--name-swap", type=float, default=d.name_swap,
                   help="add copies of this fraction (0..1) of the training pairs whose sides share a name, "
                   "the name replaced by an invented one, to teach copying names")
    t.add_argument("--typed-copies", type=float, default=d.typed_copies,
                   help="add copies of this fraction (0..1) of the short training pairs with the English side as "
                   "people type it (lower case, no closing mark)")
    t.add_argument("--corpus", default=d.corpus, choices=["tatoeba", "tatoeba+news"],
                   help="training data: Tatoeba (spa.txt), or Tatoeba and News Commentary (SCRATCHML_DATA/en-es-news)")
    t.add_argument("--tatoeba-copies", type=int, default=d.tatoeba_copies,
                   help="times each Tatoeba pair appears in an epoch (to balance it against the longer news sentences)")
    t.add_argument("--phrase-copies", type=int, default=d.phrase_copies,
                   help="extra times each Tatoeba pair of at most 4 English words appears in an epoch "
                   "(set phrases such as greetings are learned by seeing them often)")
    t.add_argument("--first-word", default=d.first_word, choices=list(FIRST_WORD),
                   help="inline: give the model each English sentence's first word as it is written inside a "
                   "sentence (a space before it, lower case where that takes fewer tokens: \"Water\" -> \" water\"), "
                   "which the tokenizer knows as one token more often")
    t.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    t.add_argument("--ema-decay", type=float, default=d.ema_decay,
                   help="moving average of the weights that is validated and exported (0: off)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    t.add_argument("--valid-bleu-sentences", type=int, default=d.valid_bleu_sentences)
    t.add_argument("--train-limit", type=int, default=d.train_limit, help="use only N training pairs")
    add_bf16(t)
    t.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: a CUDA GPU when there is one (under torchrun: LOCAL_RANK's), else the CPU")
    t.set_defaults(func=_train)

    e = nsub.add_parser("eval", help="BLEU/chrF on a test set; writes OUT/eval.json")
    e.add_argument("--model", default=None, help="model directory (default: the shipped models/en-es)")
    e.add_argument("--testset", default="tatoeba",
                   choices=["tatoeba", "tatoeba-unseen", "tatoeba-distant", "newstest2013", "valid", "valid-news"],
                   help="tatoeba: all of Tatoeba-test (most of it overlaps training); tatoeba-unseen: its pairs absent "
                   "from spa.txt; tatoeba-distant: of those, the ones not within one word edit of a training sentence; "
                   "valid / valid-news: the held-out Tatoeba pairs / News Commentary articles")
    e.add_argument("--beam", type=int, default=4)
    e.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    e.add_argument("--length-penalty", type=float, default=None,
                   help="beam search's length penalty alpha (default: the translator's, chosen on validation)")
    e.add_argument("--out", default="runs/eval")
    e.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    e.add_argument("--no-normalize", dest="normalize", action="store_false", help=_NORMALIZE_HELP)
    e.add_argument("--no-split", dest="split", action="store_false", help=_SPLIT_HELP)
    add_knn_options(e)
    add_bf16(e)
    e.set_defaults(func=_eval)

    register_knn(nsub)

    a = nsub.add_parser("attention", help="plot cross-attention heatmaps for one sentence (a text's first)")
    a.add_argument("sentence")
    a.add_argument("--model", default=None)
    a.add_argument("--beam", type=int, default=1)
    a.add_argument("--out", default="attention.png")
    a.add_argument("--no-normalize", dest="normalize", action="store_false", help=_NORMALIZE_HELP)
    add_bf16(a)
    a.set_defaults(func=_attention)

    x = nsub.add_parser("export", help="write a float16 model directory from a training checkpoint")
    x.add_argument("checkpoint")
    x.add_argument("--out", required=True)
    x.add_argument("--eval", action="append", help="eval.json files whose scores go into the model card")
    x.set_defaults(func=_export)

    s = nsub.add_parser("serve", help="HTTP API (/v1/translate) and web page with dynamic batching")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--model", default=None, help="model directory (default: the shipped models/en-es)")
    s.add_argument("--workers", type=int, default=1, help="processes, each with its own model copy")
    s.add_argument("--threads", type=int, default=0, help="torch threads per process (0: PyTorch's default)")
    s.add_argument("--no-batching", dest="batching", action="store_false", help="decode each request alone")
    s.add_argument("--max-batch-texts", type=int, default=64, help="texts decoded together at most")
    s.add_argument("--max-wait-ms", type=float, default=5.0, help="batching window of an idle worker")
    s.add_argument("--decode-chunk", type=int, default=32, help="texts per decoding call, sorted by length")
    s.add_argument("--queue-size", type=int, default=64, help="waiting requests before 503")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds per request before 504")
    s.add_argument("--max-chars", type=int, default=1000, help="characters per text")
    s.add_argument("--max-texts", type=int, default=32, help="texts per request")
    s.add_argument("--max-text-tokens", type=int, default=512, help="source tokens (after BPE) per text")
    s.add_argument("--max-request-tokens", type=int, default=2048, help="source tokens per request, all texts")
    s.add_argument("--chunk-tokens", type=int, default=1024,
                   help="source tokens per decoding call: long requests are decoded in such turns")
    s.add_argument("--short-tokens", type=int, default=128,
                   help="requests of at most this many tokens cut into the decoding of longer ones")
    s.add_argument("--body-timeout", type=float, default=10.0, help="seconds for a request body to arrive (408)")
    s.add_argument("--idle-timeout", type=float, default=5.0,
                   help="seconds a connection may stay without sending a complete request head")
    s.add_argument("--max-connections", type=int, default=1000,
                   help="open connections per process; more are answered 503 and closed")
    s.add_argument("--allowed-hosts", default="127.0.0.1,localhost,[::1]",
                   help="Host header names served, comma-separated (the --host address is added; *: any)")
    add_knn_options(s)
    add_bf16(s)
    s.set_defaults(func=_serve)

    tr = sub.add_parser("translate", help="translate English to Spanish (arguments, or stdin lines)")
    tr.add_argument("text", nargs="*", help="sentences; without any, each line of stdin")
    tr.add_argument("--model", default=None, help="model directory (default: the shipped models/en-es)")
    tr.add_argument("--beam", type=int, default=4)
    tr.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    tr.add_argument("--no-normalize", dest="normalize", action="store_false", help=_NORMALIZE_HELP)
    tr.add_argument("--no-split", dest="split", action="store_false", help=_SPLIT_HELP)
    add_knn_options(tr)
    tr.add_argument("--memory", metavar="FILE", help="English<TAB>Spanish pairs to add to the translation memory "
                    "(kept in the datastore; implies --knn)")
    add_bf16(tr)
    tr.set_defaults(func=_translate)

