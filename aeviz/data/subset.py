"""The embedded MNIST subset: a seeded, class-balanced sample of MNIST's own files, in IDX.

aeviz ships ``aeviz/data/embedded/mnist-small/`` so the offline default shows
28x28 digits instead of scikit-learn's 8x8 ones. It is made from the original
MNIST files by ``write_subset`` (reproducible byte for byte from the same
seed) and read back by the same IDX reader as MNIST itself; train images come
from MNIST's train split and test images from its test split, so models
trained on MNIST meet the subset's test images for the first time.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from aeviz.core import files
from aeviz.data.idx import read_idx

EMBEDDED = Path(__file__).parent / "embedded"
SMALL_TRAIN, SMALL_TEST = 4000, 1000      # per split, 10 classes of equal size
SUBSET_SEED = 0


def balanced_indices(labels: np.ndarray, n: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted indices of ``n`` items, ``n // k`` of each of the k classes, drawn without replacement."""
    classes = np.unique(labels)
    per = n // len(classes)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per, replace=False) for c in classes]
    return np.sort(np.concatenate(picks))


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array as an IDX file: zero, zero, type 0x08, ndim, big-endian dims, the items."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write_subset(source: Path, out: Path, files_: tuple[str, ...], n_train: int = SMALL_TRAIN,
                 n_test: int = SMALL_TEST, seed: int = SUBSET_SEED) -> list[Path]:
    """Write the subset of the IDX dataset in ``source`` to ``out`` (same four file names).

    gzip's header holds no time or name (mtime=0), so the same input gives the same bytes.
    """
    written = []
    for (images, labels), n in ((files_[0:2], n_train), (files_[2:4], n_test)):
        y = read_idx(source / labels, expect_ndim=1)
        keep = balanced_indices(y, n, seed)
        for name, part in ((images, read_idx(source / images, expect_ndim=3)[keep]), (labels, y[keep])):
            data = gzip.compress(idx_bytes(part), compresslevel=9, mtime=0)
            written.append(files.write_bytes_atomic(out / name, data))
    return written
