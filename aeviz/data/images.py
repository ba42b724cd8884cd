"""Image uploads: a zip (read through ``aeviz.archive``) or a folder of image files.

All images become one shape: ``image_size`` or the most common size, shrunk to
fit ``limits.IMAGE_MAX_SIDE``; greyscale unless some image has colour (then all are RGB).
Labels come from sub-folder names when there are any. Sizes are read from the
headers first, so nothing is decoded before the limits are checked; any file
that is not a readable image makes the whole upload fail, naming the files.
"""
from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from aeviz.core import limits
from aeviz.data.archive import iter_members
from aeviz.core.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm",
                  ".ppm", ".pbm")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError, KeyError,
                 ZeroDivisionError, Image.DecompressionBombError)
Files = list[tuple[str, bytes]]   # (relative posix name, content)


def images_from_zip(data: bytes, where: str, max_items: int, image_size: tuple[int, int] | None,
                    max_values: int):
    files = [(name, blob) for name, blob in iter_members(data, max_files=max_items + 1000)
             if _is_image_name(name)]
    return _decode_all(files, where, max_items, image_size, max_values)


def images_from_folder(folder: Path, max_items: int, max_bytes: int,
                       image_size: tuple[int, int] | None, max_values: int):
    names, total = [], 0
    for root, dirs, files in os.walk(folder):             # does not follow symlinked folders
        dirs.sort()
        for f in sorted(files):
            path = Path(root, f)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not _is_image_name(rel):
                continue
            total += path.stat().st_size
            if total > max_bytes:
                raise DataError(f"{folder}: images add up to more than {max_bytes / 2**20:.0f} "
                                "MiB (the limit)")
            names.append(rel)
            if len(names) > max_items:
                raise DataError(f"{folder}: more than {max_items:,} images (the limit)")
    files = [(rel, (folder / rel).read_bytes()) for rel in names]
    return _decode_all(files, str(folder), max_items, image_size, max_values)


def _is_image_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
    return not hidden and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _decode_all(files: Files, where: str, max_items: int, image_size: tuple[int, int] | None,
                max_values: int):
    """-> x uint8 (N, C, H, W), labels (N,) str or None, notes."""
    if not files:
        raise DataError(f"{where}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    if len(files) > max_items:
        raise DataError(f"{where}: {len(files):,} images is over the limit of {max_items:,}")
    files.sort()
    sizes, colour, bad = _headers(files)
    files = [f for f in files if f[0] not in bad]      # decoded anyway to report every bad file
    if not files:
        _refuse_bad(sorted(bad), where)
    w, h, size_note = _target_size(sizes, image_size)
    mode, channels = ("RGB", 3) if colour else ("L", 1)
    if len(files) * channels * h * w > max_values:
        raise DataError(f"{where}: {len(files):,} images of {channels}x{h}x{w} are more than "
                        f"{max_values:,} values; pass a smaller image_size or fewer images")
    x = np.empty((len(files), channels, h, w), np.uint8)
    for i, (name, blob) in enumerate(files):
        try:
            with Image.open(io.BytesIO(blob)) as im:
                im = _to_mode(im, mode)
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.LANCZOS)
                x[i] = np.asarray(im, np.uint8).reshape(h, w, channels).transpose(2, 0, 1)
        except _IMAGE_ERRORS:
            bad.add(name)
    _refuse_bad(sorted(bad), where)
    if channels == 3 and (x[:, 0] == x[:, 1]).all() and (x[:, 0] == x[:, 2]).all():
        x, mode = np.ascontiguousarray(x[:, :1]), "L"      # colour files holding grey pictures
    labels = _folder_labels([name for name, _ in files])
    notes = [f"images from {where}", size_note, "greyscale" if mode == "L" else "RGB"]
    if labels is not None:
        notes.append(f"labels from {len(set(labels))} folder names")
    return x, labels, notes


def _headers(files: Files) -> tuple[list[tuple[int, int]], bool, set[str]]:
    """(width, height) of each readable image, whether any has colour, unreadable names."""
    sizes, colour, bad = [], False, set()
    for name, blob in files:
        try:
            with Image.open(io.BytesIO(blob)) as im:
                if im.width * im.height > limits.IMAGE_MAX_SOURCE_PIXELS or min(im.size) < 1:
                    raise ValueError("too many pixels")
                sizes.append(im.size)
                colour = colour or _has_colour(im)
        except _IMAGE_ERRORS:
            bad.add(name)
    return sizes, colour, bad


def _has_colour(im: Image.Image) -> bool:
    if im.mode == "P":
        palette = np.asarray(im.getpalette() or [], np.uint8).reshape(-1, 3)
        return bool((palette != palette[:, :1]).any())
    return im.mode not in GREY_MODES


def _to_mode(im: Image.Image, mode: str) -> Image.Image:
    if im.mode.startswith("I") or im.mode == "F":     # 16/32-bit grey: rescale to 0..255
        a = np.asarray(im, np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = np.zeros_like(a) if hi <= lo else (a - lo) * (255.0 / (hi - lo))
        im = Image.fromarray(a.round().astype(np.uint8), "L")
    return im.convert(mode)


def _target_size(sizes: list[tuple[int, int]],
                 image_size: tuple[int, int] | None) -> tuple[int, int, str]:
    """(width, height) to resize to, and a note for the description."""
    n_same = Counter(sizes)
    if image_size is not None:
        h, w = image_size
        return w, h, f"resized to {h}x{w} ({len(sizes) - n_same[(w, h)]} changed)"
    (w, h), count = n_same.most_common(1)[0]
    if max(w, h) > limits.IMAGE_MAX_SIDE:
        scale = limits.IMAGE_MAX_SIDE / max(w, h)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
    changed = len(sizes) - n_same[(w, h)]
    return w, h, f"{h}x{w} pixels" + (f" ({changed} resized)" if changed else "")


def _folder_labels(names: list[str]) -> np.ndarray | None:
    """Immediate sub-folder under the common top folder, or None when all sit together."""
    dirs = [PurePosixPath(n).parent.parts for n in names]
    common = 0
    while all(len(d) > common for d in dirs) and len({d[common] for d in dirs}) == 1:
        common += 1
    labels = [d[common] if len(d) > common else "(top level)" for d in dirs]
    return None if all(d == dirs[0] for d in dirs) else np.array(labels)


def _refuse_bad(bad: list[str], where: str) -> None:
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DataError(f"{where}: {len(bad)} file(s) are not readable images: "
                        f"{', '.join(bad[:5])}{more}; remove or replace them")
