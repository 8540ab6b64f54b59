"""Turn any photo or drawing of a digit into an MNIST-like 28×28 image.

MNIST digits are white on black, size-normalised to fit a 20×20 box (aspect ratio kept) and then
placed in a 28×28 frame so that their centre of mass is at the centre (LeCun et al. 1998). We
repeat those steps:

1. greyscale (transparent pixels count as white paper), values in [0, 1];
2. invert if the picture is dark-on-light — judged by its border, which is background;
3. crop to the ink's bounding box, scale its longer side to 20 pixels;
4. paste into 28×28 with the centre of mass at (14, 14); stretch the contrast to 0…255.
"""

from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError


def _open_grey(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(paper, rgba)
            return np.asarray(img.convert("L"), dtype=np.float32) / 255
    except FileNotFoundError:
        raise ScratchMLError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise ScratchMLError(f"{path}: not a readable image ({e})") from None


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def to_mnist(path: str | Path) -> np.ndarray:
    """A (28, 28) float32 array in [0, 255], white digit on black, centred like MNIST."""
    from PIL import Image

    path = Path(path)
    grey = _open_grey(path)                                  # (H, W) in [0, 1]
    if np.median(_border(grey)) > 0.5:                      # light paper, dark ink
        grey = 1 - grey
    grey = np.clip(grey - np.median(_border(grey)), 0, None)  # background → 0
    if grey.max() < 0.1:
        raise ScratchMLError(f"{path}: the image looks blank — no digit found")
    rows, cols = np.nonzero(grey > 0.2 * grey.max())
    crop = grey[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = 20 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)).clip(0, None)
    out = np.zeros((28, 28), np.float32)
    ys, xs = np.indices(digit.shape)
    mass = digit.sum()
    top = int(round(14 - (ys * digit).sum() / mass))          # centre of mass → (14, 14)
    left = int(round(14 - (xs * digit).sum() / mass))
    top = min(max(top, 0), 28 - digit.shape[0])               # but never off the frame
    left = min(max(left, 0), 28 - digit.shape[1])
    out[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return out * (255 / out.max())
