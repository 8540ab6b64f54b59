"""Reading a user's picture of a digit: polarity, size and centring like MNIST."""

import numpy as np
import pytest
from PIL import Image

from scratchml.mnist.image import to_mnist


def stroke_picture(dark_on_light: bool, mode: str, size=(90, 150)):
    """A thick vertical bar, off-centre in a big canvas, drawn on noisy paper."""
    rng = np.random.default_rng(0)
    ink, paper = (20, 235) if dark_on_light else (235, 20)
    grey = np.clip(paper + rng.integers(-10, 10, size), 0, 255).astype(np.uint8)
    grey[20:80, 10:25] = ink
    img = Image.fromarray(grey)
    return img.convert(mode)


@pytest.mark.parametrize("dark_on_light", [True, False])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_white_digit_on_black_centred_in_a_20px_box(tmp_path, dark_on_light, mode):
    stroke_picture(dark_on_light, mode).save(tmp_path / "d.png")
    digit = to_mnist(tmp_path / "d.png")
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(255)
    rows, cols = np.nonzero(digit > 0.5 * 255)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)     # longer side scaled to 20 px
    ys, xs = np.indices(digit.shape)
    com = ((ys * digit).sum() / digit.sum(), (xs * digit).sum() / digit.sum())
    assert com == pytest.approx((14, 14), abs=1.0)         # centre of mass in the middle
    assert digit[0].max() < 30 and digit[:, 0].max() < 30   # background is black


def test_transparent_background_counts_as_paper(tmp_path):
    rgba = np.zeros((60, 60, 4), np.uint8)                  # fully transparent …
    rgba[10:50, 25:35] = (0, 0, 0, 255)                     # … except an opaque black bar
    Image.fromarray(rgba).save(tmp_path / "t.png")
    digit = to_mnist(tmp_path / "t.png")
    assert digit[14, 14] > 200 and digit[0, 0] == 0
