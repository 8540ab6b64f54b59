"""``scratchml mnist train | eval | predict`` end to end on a tiny synthetic MNIST, and every bad
input ending in one stderr line and exit status 1."""

import hashlib
import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from PIL import Image

from scratchml.cli.main import main
from scratchml.data import cache, registry, write_idx

MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def synthetic_digits(n, rng):
    """Class k = a bright 6×6 square in cell k of a 4×3 layout, plus noise: easy to learn."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for img, k in zip(images, labels):
        r, c = 2 + 7 * (k // 4), 2 + 7 * (k % 4)
        img[r:r + 6, c:c + 6] = 255
    return images, labels


def use_cache(monkeypatch, root, files):
    """Point SCRATCHML_DATA at ``root`` and the registry's checksums at ``files``' contents."""
    monkeypatch.setenv("SCRATCHML_DATA", str(root))
    monkeypatch.setattr(cache, "_VERIFIED", set())
    specs = tuple(registry.DataFile(name, hashlib.sha256((root / "mnist" / name).read_bytes()).hexdigest()
                                    if (root / "mnist" / name).exists() else "0" * 64, url=None)
                  for name in files)
    monkeypatch.setitem(registry.DATASETS, "mnist", registry.Dataset("mnist", "fake", "none", specs))


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for prefix, n in (("train", 600), ("t10k", 200)):
        images, labels = synthetic_digits(n, rng)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    use_cache(monkeypatch, tmp_path / "data", MNIST_FILES)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchml: error:"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


TINY = ["--hidden", "32", "32", "--epochs", "3", "--batch-size", "50", "--val-size", "100",
        "--lr", "0.01", "--ema", "0.9", "--quiet"]


def test_train_eval_predict(fake_mnist, capsys):
    out_dir = fake_mnist / "run"
    code, out, err = run(capsys, "mnist", "train", *TINY, "--out", str(out_dir))
    assert code == 0, err
    assert "test accuracy" in out.splitlines()[-1]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert 0.9 <= metrics["test_accuracy"] <= 1 and metrics["train_seconds"] > 0
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(metrics["epochs"][0])
    for png in ("curves.png", "mistakes.png"):
        assert Image.open(out_dir / png).size[0] > 100

    code, out, err = run(capsys, "mnist", "eval", str(out_dir / "model.npz"))
    assert code == 0 and f"{metrics['test_accuracy']:.2%}" in out

    # A dark-on-light RGB picture of class 5 (square in row 1, column 1), larger than 28×28.
    picture = np.full((112, 112, 3), 250, np.uint8)
    picture[36:60, 36:60] = 10
    Image.fromarray(picture).save(fake_mnist / "five.png")
    code, out, err = run(capsys, "mnist", "predict", str(out_dir / "model.npz"), str(fake_mnist / "five.png"))
    assert code == 0, err
    assert out.split()[0].isdigit()


def test_missing_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCRATCHML_DATA", str(tmp_path))
    monkeypatch.setattr(cache, "_VERIFIED", set())

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run(capsys, "mnist", "train", *TINY, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "train-images-idx3-ubyte.gz is missing", "SCRATCHML_DATA")


def test_wrong_checksum(fake_mnist, capsys):
    path = fake_mnist / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5])
    code, out, err = run(capsys, "mnist", "train", *TINY, "--out", str(fake_mnist / "run"))
    assert_one_line_error(code, err, "t10k-labels-idx1-ubyte.gz: checksum mismatch")


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00\x00\x1c\x00\x00\x00\x1c" + bytes(100), "truncated"),
    (b"PK\x03\x04 definitely not idx", "bad magic"),
])
def test_corrupt_idx_with_a_matching_checksum(tmp_path, monkeypatch, capsys, content, message):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_FILES:
        (folder / name.removesuffix(".gz")).write_bytes(content)
    use_cache(monkeypatch, tmp_path, [name.removesuffix(".gz") for name in MNIST_FILES])
    monkeypatch.setattr("scratchml.mnist.data.FILES", {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")})
    code, out, err = run(capsys, "mnist", "train", *TINY, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "train-images-idx3-ubyte", message)


def test_bad_hyperparameters(fake_mnist, capsys):
    code, out, err = run(capsys, "mnist", "train", *TINY, "--epochs", "0")
    assert_one_line_error(code, err, "epochs")


@pytest.fixture
def tiny_model(tmp_path):
    from scratchml import nn
    from scratchml.mnist.recipe import build_model
    path = tmp_path / "model.npz"
    nn.save(build_model([8]), path)
    return path


def test_predict_a_file_that_is_not_an_image(tiny_model, tmp_path, capsys):
    (tmp_path / "digit.png").write_text("this is text, not pixels")
    code, out, err = run(capsys, "mnist", "predict", str(tiny_model), str(tmp_path / "digit.png"))
    assert_one_line_error(code, err, "digit.png: not a readable image")
    code, out, err = run(capsys, "mnist", "predict", str(tiny_model), str(tmp_path / "absent.png"))
    assert_one_line_error(code, err, "absent.png: no such image file")


def test_predict_a_blank_image(tiny_model, tmp_path, capsys):
    Image.new("L", (50, 40), 255).save(tmp_path / "blank.png")
    code, out, err = run(capsys, "mnist", "predict", str(tiny_model), str(tmp_path / "blank.png"))
    assert_one_line_error(code, err, "blank")


def test_model_files_that_are_not_ours(tmp_path, capsys):
    from scratchml import nn
    (tmp_path / "junk.npz").write_bytes(b"\x89PNG not a model")
    code, out, err = run(capsys, "mnist", "eval", str(tmp_path / "junk.npz"))
    assert_one_line_error(code, err, "junk.npz: not a scratchml model file")
    nn.save(nn.Sequential(nn.Linear(5, 3)), tmp_path / "other.npz")
    code, out, err = run(capsys, "mnist", "eval", str(tmp_path / "other.npz"))
    assert_one_line_error(code, err, "not an MNIST model")


def test_the_real_command_exits_1_without_traceback(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "scratchml.cli.main", "mnist", "eval",
                           str(tmp_path / "junk.npz")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "not a scratchml model file" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.dataset("mnist")
def test_brief_training_on_real_mnist(tmp_path, capsys):
    code, out, err = run(capsys, "mnist", "train", "--hidden", "128", "128", "--epochs", "1", "--lr", "0.003",
                         "--val-size", "1000", "--ema", "0", "--quiet", "--out", str(tmp_path))
    assert code == 0, err
    assert json.loads((tmp_path / "metrics.json").read_text())["test_accuracy"] > 0.95
