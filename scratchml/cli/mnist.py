"""``scratchml mnist train | eval | predict``: the NumPy network on handwritten digits."""

import json
import os
from pathlib import Path

from scratchml.errors import ScratchMLError
from scratchml.mnist.recipe import Recipe

DEFAULTS = Recipe()


def register(subparsers) -> None:
    mnist = subparsers.add_parser("mnist", help="train and use a NumPy MLP on MNIST digits")
    sub = mnist.add_subparsers(dest="mnist_command", required=True, metavar="ACTION")

    t = sub.add_parser("train", help="train the network, write DIR/{metrics.json,model.npz,*.png}")
    t.add_argument("--hidden", type=int, nargs="+", default=DEFAULTS.hidden, metavar="N",
                   help="hidden layer sizes (default: 1024 1024)")
    t.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="default: %(default)s")
    t.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="default: %(default)s")
    t.add_argument("--optimizer", choices=["adamw", "adam", "sgd"], default=DEFAULTS.optimizer,
                   help="sgd = SGD with Nesterov momentum 0.9 (default: %(default)s)")
    t.add_argument("--lr", type=float, default=DEFAULTS.lr, help="peak learning rate (default: %(default)s)")
    t.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay,
                   help="on weight matrices (default: %(default)s)")
    t.add_argument("--warmup", type=float, default=DEFAULTS.warmup,
                   help="fraction of steps with linear warm-up before cosine decay (default: %(default)s)")
    t.add_argument("--label-smoothing", type=float, default=DEFAULTS.label_smoothing,
                   help="default: %(default)s")
    t.add_argument("--dropout", type=float, default=DEFAULTS.dropout,
                   help="after each hidden layer (default: %(default)s)")
    t.add_argument("--ema", type=float, default=DEFAULTS.ema,
                   help="weight-average decay, e.g. 0.998 (default: %(default)s = off)")
    t.add_argument("--val-size", type=int, default=DEFAULTS.val_size,
                   help="training images held out for validation (default: %(default)s)")
    t.add_argument("--patience", type=int, default=DEFAULTS.patience,
                   help="stop after this many epochs without validation gain (default: never)")
    t.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default: %(default)s")
    t.add_argument("--out", type=Path, default=Path("runs/mnist"), metavar="DIR",
                   help="default: %(default)s")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=train)

    e = sub.add_parser("eval", help="accuracy of a saved model on the 10,000 test digits")
    e.add_argument("model", type=Path, metavar="MODEL")
    e.set_defaults(func=evaluate)

    p = sub.add_parser("predict", help="classify one image of a digit (PNG, JPEG, …)")
    p.add_argument("model", type=Path, metavar="MODEL")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.set_defaults(func=predict)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)                   # atomic


def _load_mnist_model(path: Path):
    from scratchml import nn

    model, meta = nn.load(path)
    first = next((m for m in model.layers if isinstance(m, nn.Linear)), None)
    last = next((m for m in reversed(model.layers) if isinstance(m, nn.Linear)), None)
    if first is None or first.in_features != 784 or last.out_features != 10:
        raise ScratchMLError(f"{path}: not an MNIST model (it needs 784 inputs and 10 outputs)")
    return model, meta


def train(args) -> None:
    from scratchml import nn
    from scratchml.mnist import data, plots, recipe

    r = Recipe(hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
               optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
               warmup=args.warmup, label_smoothing=args.label_smoothing, dropout=args.dropout,
               ema=args.ema, val_size=args.val_size, patience=args.patience, seed=args.seed)
    recipe.validate(r)
    x, y = data.load("train")
    test_images, test_labels = data.load_raw("test")
    model, history, seconds = recipe.train(r, x, y, progress=not args.quiet)

    scores = model.predict(data.normalize(test_images))
    predicted = scores.argmax(axis=1)
    accuracy = float((predicted == test_labels).mean())
    test_loss, _ = nn.evaluate(model, data.normalize(test_images), test_labels.astype("int64"))
    metrics = {"test_accuracy": accuracy, "test_loss": test_loss, "train_seconds": seconds,
               "epochs": history, "config": r.as_dict()}

    args.out.mkdir(parents=True, exist_ok=True)
    nn.save(model, args.out / "model.npz",
            meta={"normalize": {"mean": data.MEAN, "std": data.STD}, "test_accuracy": accuracy,
                  "config": r.as_dict()})
    _write_json(args.out / "metrics.json", metrics)
    plots.curves(history, args.out / "curves.png")
    plots.mistakes(test_images, test_labels, predicted, args.out / "mistakes.png")
    print(f"wrote {args.out}/{{model.npz,metrics.json,curves.png,mistakes.png}}")
    print(f"test accuracy {accuracy:.2%} ({int((predicted == test_labels).sum())}/{len(test_labels)}), "
          f"trained in {seconds:.1f} s")


def evaluate(args) -> None:
    from scratchml import nn
    from scratchml.mnist import data

    model, _ = _load_mnist_model(args.model)
    x, y = data.load("test")
    loss, accuracy = nn.evaluate(model, x, y)
    print(f"test accuracy {accuracy:.2%} ({round(accuracy * len(y))}/{len(y)}), loss {loss:.4f}")


def predict(args) -> None:
    import numpy as np

    from scratchml.mnist import data, image

    model, _ = _load_mnist_model(args.model)
    digit = image.to_mnist(args.image)
    scores = model.predict(data.normalize(digit[None]))[0].astype(np.float64)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    ranked = np.argsort(probs)[::-1]
    best, second = ranked[0], ranked[1]
    print(f"{best}  (probability {probs[best]:.1%}; runner-up {second} at {probs[second]:.1%})")
