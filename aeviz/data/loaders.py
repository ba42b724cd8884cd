"""Readers that turn one dataset's files (or a built-in generator) into a Dataset.

Each takes the folder holding the files (None for built-ins). The registry that
names them, and the lookup/download logic, live in ``aeviz.data``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aeviz.data.dataset import Dataset
from aeviz.core.errors import DataError
from aeviz.data.idx import read_idx
from aeviz.data.toy import TOYS, make_toy

DIGIT_NAMES = tuple(str(i) for i in range(10))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
FREY_FILE = "frey_rawface.mat"
FREY_SHAPE = (28, 20)       # one face per column of `ff`, 28 rows x 20 columns
FREY_TEST = 200
DIGITS_TEST = 360
SPLIT_SEED = 0


def load_digits(folder: Path | None = None) -> Dataset:
    """sklearn's 1,797 8x8 digits: (N, 1, 8, 8) in [0, 1], stratified 1,437 / 360 split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split
    bunch = sk_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]         # (1797, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=DIGITS_TEST, stratify=y,
                                              random_state=SPLIT_SEED)
    return Dataset("digits", np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te,
                   DIGIT_NAMES, "8x8 handwritten digits (scikit-learn), built in")


def _idx_loader(name: str, class_names: tuple[str, ...], description: str):
    def load(folder: Path | None) -> Dataset:
        assert folder is not None
        x_tr, y_tr = _idx_pair(folder / IDX_FILES[0], folder / IDX_FILES[1], len(class_names))
        x_te, y_te = _idx_pair(folder / IDX_FILES[2], folder / IDX_FILES[3], len(class_names))
        return Dataset(name, x_tr, y_tr, x_te, y_te, class_names, description)
    return load


def _idx_pair(images: Path, labels: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """IDX images (N, H, W) uint8 + labels (N,) -> x (N, 1, H, W) float32 /255, y int64."""
    pixels = read_idx(images, expect_ndim=3)
    y = read_idx(labels, expect_ndim=1).astype(np.int64)
    if len(pixels) != len(y):
        raise DataError(f"{images.name} holds {len(pixels):,} images but {labels.name} "
                        f"{len(y):,} labels; the files do not belong together")
    if y.max() >= n_classes:
        raise DataError(f"{labels.name}: label {int(y.max())} is out of range 0..{n_classes - 1}")
    x = pixels.astype(np.float32)[:, None]
    np.divide(x, 255.0, out=x)
    return x, y


def load_frey(folder: Path | None) -> Dataset:
    """Frey faces: `ff` (560, 1965) uint8 -> (1965, 1, 28, 20); one class, seeded 1,765 / 200."""
    assert folder is not None
    ff = _read_mat_variable(folder / FREY_FILE, "ff")
    pixels = FREY_SHAPE[0] * FREY_SHAPE[1]
    if ff.dtype != np.uint8 or ff.ndim != 2 or ff.shape[0] != pixels or ff.shape[1] <= FREY_TEST:
        raise DataError(f"{FREY_FILE}: variable 'ff' should be uint8 of shape ({pixels}, N) with "
                        f"N > {FREY_TEST}, got {ff.dtype} {ff.shape}; is it the original file?")
    x = np.ascontiguousarray(ff.T).reshape(-1, 1, *FREY_SHAPE).astype(np.float32) / 255.0
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    test, train = np.sort(order[:FREY_TEST]), np.sort(order[FREY_TEST:])
    return Dataset("frey-faces", x[train], np.zeros(len(train), np.int64), x[test],
                   np.zeros(len(test), np.int64), ("face",),
                   "1,965 28x20 grey faces of Brendan Frey (Roweis' collection)")


def _read_mat_variable(path: Path, name: str) -> np.ndarray:
    from scipy.io import loadmat
    try:
        mat = loadmat(path, variable_names=[name])
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; use the original "
                        "MATLAB 5 file") from None
    except (ValueError, TypeError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable MATLAB file ({e}); delete it so it is "
                        "downloaded again") from None
    value = mat.get(name)
    if not isinstance(value, np.ndarray):
        raise DataError(f"{path}: no variable {name!r} found (has: "
                        f"{', '.join(k for k in mat if not k.startswith('__')) or 'none'})")
    return value


def _toy_loader(name: str):
    def load(folder: Path | None) -> Dataset:
        x_tr, y_tr, x_te, y_te = make_toy(name)
        spec = TOYS[name]
        return Dataset(name, x_tr, y_tr, x_te, y_te, spec.class_names,
                       spec.description + ", built in")
    return load


load_mnist = _idx_loader("mnist", DIGIT_NAMES, "70,000 28x28 handwritten digits (LeCun et al.)")
load_fashion = _idx_loader("fashion-mnist", FASHION_NAMES,
                           "70,000 28x28 Zalando clothing images in 10 classes")
TOY_LOADERS = {name: _toy_loader(name) for name in TOYS}
_load_small = _idx_loader("mnist-small", DIGIT_NAMES, "5,000 28x28 handwritten digits of MNIST "
                          "(4,000 of its train and 1,000 of its test images; CC BY-SA 3.0, LeCun and "
                          "Cortes), built in")


def load_mnist_small(folder: Path | None = None) -> Dataset:
    """The embedded MNIST subset (aeviz.data.subset): the MNIST reader on the package's own files."""
    from aeviz.data.subset import EMBEDDED
    return _load_small(EMBEDDED / "mnist-small")
