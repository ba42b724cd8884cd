"""The one dataset value every other module consumes, validated once on creation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aeviz.core.errors import DataError

SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train/test arrays plus class names; arrays are read-only views.

    x: float32 in [0, 1], C-contiguous, (N, C, H, W) images or (N, D) vectors.
    y: int64 (N,), values in range(len(class_names)).
    """
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.class_names, tuple) or not self.class_names or \
                not all(isinstance(c, str) for c in self.class_names):
            raise DataError(f"dataset {self.name!r}: class_names must be a non-empty tuple of "
                            f"str, got {self.class_names!r}")
        for split in SPLITS:
            x, y = _check_split(self.name, split, getattr(self, f"x_{split}"),
                                getattr(self, f"y_{split}"), len(self.class_names))
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"dataset {self.name!r}: train samples have shape "
                            f"{self.x_train.shape[1:]} but test samples {self.x_test.shape[1:]}")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x_train.ndim == 4

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the "train" or "test" split."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use 'train' or 'test'")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={len(self.class_names)})")


def _check_split(name: str, split: str, x, y, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split and return read-only views (the caller's arrays stay writable)."""
    where = f"dataset {name!r} {split} split"
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim not in (2, 4):
        raise DataError(f"{where}: x must be a float32 array of shape (N, D) or (N, C, H, W), got "
                        f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    if not x.flags.c_contiguous or 0 in x.shape:
        raise DataError(f"{where}: x must be C-contiguous and non-empty, got shape {x.shape}")
    if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != x.shape[:1]:
        raise DataError(f"{where}: y must be int64 of shape ({len(x)},), got "
                        f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")
    if not np.isfinite(x).all():
        raise DataError(f"{where}: x holds NaN or inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"{where}: x must lie in [0, 1], got values in [{lo:g}, {hi:g}]")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"{where}: labels must be in 0..{n_classes - 1}, got "
                        f"{int(y.min())}..{int(y.max())}")
    return _read_only(x), _read_only(y)


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.setflags(write=False)
    return view
