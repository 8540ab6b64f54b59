"""Load MNIST from the dataset cache as arrays ready for the network.

Pixels are scaled to [0, 1] and then standardised with the training set's mean and standard
deviation, so the first layer sees inputs of zero mean and unit variance — the assumption behind
He initialisation. Images are flattened to 784-vectors: an MLP has no notion of 2-D neighbourhood.
"""

import numpy as np

from scratchml.data import fetch, read_idx
from scratchml.errors import ScratchMLError

MEAN, STD = 0.1307, 0.3081          # of the 60,000 training images' pixels, in [0, 1]
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def load_raw(split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and uint8 labels (N,) of the "train" or "test" split."""
    image_file, label_file = FILES[split]
    images, labels = read_idx(fetch("mnist", image_file)), read_idx(fetch("mnist", label_file))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise ScratchMLError(f"MNIST {split}: images {images.shape} and labels {labels.shape} "
                             f"do not match (expected (N, 28, 28) and (N,))")
    return images, labels


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 784), standardised."""
    x = images.reshape(len(images), -1).astype(np.float32)
    x *= np.float32(1 / (255 * STD))
    x -= np.float32(MEAN / STD)
    return x


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised float32 images (N, 784) and int64 labels (N,)."""
    images, labels = load_raw(split)
    return normalize(images), labels.astype(np.int64)
