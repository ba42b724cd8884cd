"""Turn a user's upload (.npy, .npz, .csv, a zip or folder of images) into a Dataset.

Everything here reads untrusted bytes: sizes are checked before loading,
``np.load`` never unpickles, NaN/inf and ragged input are refused with the row
or key at fault, and how values were scaled into [0, 1] is written into the
Dataset's ``description``.
"""
from __future__ import annotations

import io
import tokenize
from pathlib import Path
from typing import Callable

import numpy as np

from aeviz.core import limits
from aeviz.data.archive import display_name, iter_members, shown
from aeviz.data.dataset import Dataset
from aeviz.core.errors import DataError
from aeviz.data.tables import parse_csv
from aeviz.data.images import images_from_folder, images_from_zip

X_KEYS, Y_KEYS = ("x", "X", "data"), ("y", "labels", "Y", "label")
Parsed = tuple[np.ndarray, np.ndarray | None, list[str]]   # x, raw labels or None, notes


def load_user_data(source: str | Path | bytes, filename: str, *, max_bytes: int = limits.UPLOAD_MAX_BYTES,
                   max_items: int = limits.UPLOAD_MAX_ITEMS, image_size: tuple[int, int] | None = None,
                   test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Parse an upload (bytes, a file path, or a folder of images) into a seeded train/test Dataset.

    ``filename`` picks the format by extension and names the dataset.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    image_size = _check_image_size(image_size)
    where = shown(filename)                       # the browser's file name: escaped in every message
    name = display_name(Path(filename).name, "the upload's file name")
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        x, y, notes = images_from_folder(Path(source), max_items, max_bytes, image_size,
                                         limits.UPLOAD_MAX_VALUES)
    else:
        suffix = Path(filename).suffix.lower()
        reader = READERS.get(suffix)
        if reader is None:
            raise DataError(f"{where}: unsupported file type {suffix or '(none)'!r}; upload "
                            f"one of {', '.join(READERS)} or a folder of images")
        data = _read_bytes(source, where, max_bytes)
        x, y, notes = reader(data, where, max_items, image_size)
    x = _as_samples(x, where, image_size)
    if x.size > limits.UPLOAD_MAX_VALUES:
        raise DataError(f"{where}: {x.size:,} values is over the limit of {limits.UPLOAD_MAX_VALUES:,}; "
                        "upload fewer or smaller samples")
    x, scaling = _scale(x, where)
    codes, class_names = encode_labels(y, len(x), where)
    return _split(name, x, codes, class_names, ", ".join(notes + [scaling]), test_fraction, seed)


def _check_image_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if len(size) != 2 or not all(isinstance(s, int) and 1 <= s <= 8 * limits.IMAGE_MAX_SIDE for s in size):
        raise DataError(f"image_size must be (height, width) with each in 1..{8 * limits.IMAGE_MAX_SIDE}, "
                        f"got {size!r}")
    return (int(size[0]), int(size[1]))


def _read_bytes(source: str | Path | bytes, where: str, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = len(source)
    else:
        try:
            size = Path(source).stat().st_size
        except OSError as e:
            raise DataError(f"{where}: cannot read ({e.strerror or e})") from None
    if size > max_bytes:
        raise DataError(f"{where} is {size / 2**20:.1f} MiB; the limit is "
                        f"{max_bytes / 2**20:.1f} MiB")
    if size == 0:
        raise DataError(f"{where} is empty")
    return bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) \
        else Path(source).read_bytes()


# ---------------------------------------------------------------- .npy / .npz

def read_npy(data: bytes, where: str, max_items: int, numeric: bool = True) -> np.ndarray:
    """Load one .npy without pickle after checking its header (dtype, shape, exact size)."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        header = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if header is None:
            raise DataError(f"{where}: .npy format version {version} is not supported (1.0, 2.0)")
        shape, fortran, dtype = header(f)
    except DataError:
        raise
    except (ValueError, TypeError, SyntaxError, EOFError, OverflowError, RecursionError,
            tokenize.TokenError) as e:   # numpy parses the header with tokenize + ast
        raise DataError(f"{where}: not a valid .npy file ({e})") from None
    _check_npy_header(shape, dtype, where, max_items, numeric)
    count = int(np.prod(shape, dtype=object))
    if len(data) - f.tell() != count * dtype.itemsize:
        raise DataError(f"{where}: truncated/corrupt: header says {count * dtype.itemsize:,} "
                        f"bytes of data, file has {len(data) - f.tell():,}")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{where}: cannot load .npy ({e})") from None


def _check_npy_header(shape: tuple, dtype: np.dtype, where: str, max_items: int,
                      numeric: bool) -> None:
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects (would need pickle, which is never "
                        "loaded); save a plain numeric array")
    kinds = "biuf" if numeric else "biufUS"
    if dtype.names is not None or dtype.kind not in kinds or dtype.subdtype is not None:
        raise DataError(f"{where}: dtype {dtype} is not supported; expected "
                        f"{'numbers' if numeric else 'numbers or text'}")
    if not shape:
        raise DataError(f"{where}: holds a single scalar; expected an array of samples")
    if shape[0] > max_items:
        raise DataError(f"{where}: {shape[0]:,} samples is over the limit of {max_items:,}")
    if int(np.prod(shape, dtype=object)) > limits.UPLOAD_MAX_VALUES:
        raise DataError(f"{where}: shape {shape} holds more than {limits.UPLOAD_MAX_VALUES:,} values")


def _parse_npy(data: bytes, where: str, max_items: int, image_size) -> Parsed:
    return read_npy(data, where, max_items), None, [f"array from {where}"]


def _parse_npz(data: bytes, where: str, max_items: int, image_size) -> Parsed:
    arrays = {name[:-4]: payload for name, payload in
              iter_members(data, max_files=64, max_total_bytes=4 * len(data) + 2**20,
                           max_ratio=1000) if name.endswith(".npy")}
    x_key = next((k for k in X_KEYS if k in arrays), None)
    if x_key is None and len(arrays) == 1:
        x_key = next(iter(arrays))
    if x_key is None:
        raise DataError(f"{where}: no array named {' / '.join(X_KEYS)} (has: "
                        f"{', '.join(shown(k) for k in sorted(arrays)) or 'none'}); save with "
                        "np.savez(f, x=..., y=...)")
    x = read_npy(arrays[x_key], f"{where}[{shown(x_key)}]", max_items)
    y_key = next((k for k in Y_KEYS if k in arrays and k != x_key), None)
    y = None if y_key is None else read_npy(arrays[y_key], f"{where}[{y_key}]", max_items, False)
    notes = [f"array {x_key!r} from {where}"] + ([f"labels {y_key!r}"] if y_key else [])
    return x, y, notes


def _parse_csv(data: bytes, where: str, max_items: int, image_size) -> Parsed:
    return parse_csv(data, where, max_items)


def _parse_zip(data: bytes, where: str, max_items: int, image_size) -> Parsed:
    return images_from_zip(data, where, max_items, image_size, limits.UPLOAD_MAX_VALUES)


READERS: dict[str, Callable[..., Parsed]] = {
    ".npy": _parse_npy, ".npz": _parse_npz, ".csv": _parse_csv, ".zip": _parse_zip}


# ---------------------------------------------------------------- shapes, scaling, labels

def _as_samples(x: np.ndarray, where: str, image_size: tuple[int, int] | None) -> np.ndarray:
    """(N, D) vectors or (N, C, H, W) images; (N, H, W) and channels-last are converted."""
    if x.ndim == 2 and image_size is not None:
        if x.shape[1] != image_size[0] * image_size[1]:
            raise DataError(f"{where}: rows of {x.shape[1]} values cannot be shown as "
                            f"{image_size[0]}x{image_size[1]} images; fix image_size")
        x = x.reshape(len(x), 1, *image_size)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)          # (N, H, W, C) -> (N, C, H, W)
    if x.ndim not in (2, 4) or (x.ndim == 4 and x.shape[1] not in (1, 3)):
        raise DataError(f"{where}: array of shape {x.shape} is not (N, D) vectors or "
                        "(N, H, W) / (N, C, H, W) / (N, H, W, C) images with 1 or 3 channels")
    if x.ndim == 4 and image_size is not None and x.shape[2:] != image_size:
        raise DataError(f"{where}: images are {x.shape[2]}x{x.shape[3]}, not the requested "
                        f"{image_size[0]}x{image_size[1]}")
    if len(x) < 2 or 0 in x.shape:
        raise DataError(f"{where}: shape {x.shape}: need at least 2 samples of non-zero size "
                        "(one to train on, one to test)")
    return x


SCALE_CHUNK = 1 << 20                     # values per float64 working block (8 MiB)


def _scale(x: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """float32 C-contiguous in [0, 1], and a note saying how.

    Works in row blocks so a large upload costs its float32 result plus one
    small float64 block, not several full-size float64 copies.
    """
    if x.dtype == np.uint8:
        out = x.astype(np.float32)
        return np.ascontiguousarray(np.divide(out, 255.0, out=out)), "uint8 values divided by 255"
    blocks = _row_blocks(x)
    _refuse_non_finite(x, blocks, where)
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        note, shift, span = "values already in [0, 1]", 0.0, 1.0
    elif hi > lo:
        note, shift, span = f"min-max scaled from [{lo:g}, {hi:g}] to [0, 1]", lo, hi - lo
    else:
        note, shift, span = f"every value equals {lo:g}; set to 0", lo, 1.0
    out = np.empty(x.shape, np.float32)
    for rows in blocks:
        out[rows] = np.clip((x[rows].astype(np.float64) - shift) / span, 0.0, 1.0)
    return out, note


def _row_blocks(x: np.ndarray) -> list[slice]:
    per_row = max(1, x.size // max(1, len(x)))
    step = max(1, SCALE_CHUNK // per_row)
    return [slice(i, i + step) for i in range(0, len(x), step)]


def _refuse_non_finite(x: np.ndarray, blocks: list[slice], where: str) -> None:
    if x.dtype.kind not in "fc":
        return                                   # integers and booleans are always finite
    count, first = 0, None
    for rows in blocks:
        bad = ~np.isfinite(x[rows])
        if bad.any():
            count += int(bad.sum())
            if first is None:
                first = rows.start + int(np.unravel_index(int(np.argmax(bad)), bad.shape)[0])
    if count:
        raise DataError(f"{where}: {count:,} NaN/inf values (first in sample {first}); "
                        "remove or impute them before uploading")


def encode_labels(y: np.ndarray | None, n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Raw labels (numbers or text) -> int64 codes 0..K-1 and K sorted class names."""
    if y is None:
        return np.zeros(n, np.int64), ("unlabelled",)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{where}: labels have shape {y.shape}; expected ({n},), one per sample")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.equal(np.round(y), y).all():
            raise DataError(f"{where}: labels must be whole numbers or text, got fractions or NaN")
        y = y.astype(np.int64)
    if y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8", errors="replace")
    values, codes = np.unique(y, return_inverse=True)
    if values.dtype.kind == "U":
        values, codes = _merge_display_names(values, codes, where)
    if len(values) > limits.UPLOAD_MAX_CLASSES:
        raise DataError(f"{where}: {len(values):,} distinct labels; at most {limits.UPLOAD_MAX_CLASSES} "
                        "classes are supported (labels must be categories, not measurements)")
    return codes.astype(np.int64).reshape(n), tuple(str(v) for v in values)


def _merge_display_names(values: np.ndarray, codes: np.ndarray,
                         where: str) -> tuple[np.ndarray, np.ndarray]:
    """Text class names as safe display names; names equal after NFC become one class."""
    names = np.array([display_name(v, f"{where}: class name") for v in values.tolist()])
    merged, remap = np.unique(names, return_inverse=True)
    return merged, remap.reshape(-1)[codes.reshape(-1)]


def _split(name: str, x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...], notes: str,
           test_fraction: float, seed: int) -> Dataset:
    """Seeded split; stratified when every class has at least two samples."""
    n = len(x)
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    counts = np.bincount(y, minlength=len(class_names))
    stratify = counts.min() >= 2 and min(n_test, n - n_test) >= len(class_names)
    if stratify:
        from sklearn.model_selection import train_test_split
        train, test = train_test_split(np.arange(n), test_size=n_test, stratify=y,
                                       random_state=seed)
    else:
        order = np.random.default_rng(seed).permutation(n)
        train, test = order[n_test:], order[:n_test]
    train, test = np.sort(train), np.sort(test)
    return Dataset(name, np.ascontiguousarray(x[train]), y[train], np.ascontiguousarray(x[test]),
                   y[test], class_names, f"{n:,} samples uploaded as {notes}")
