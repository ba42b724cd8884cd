"""Image uploads: a zip (read through ``aeviz.archive``) or a folder of image files.

All images become one shape: ``image_size`` or the most common size, shrunk to
fit ``limits.IMAGE_MAX_SIDE``; greyscale unless some image has colour (then all are RGB).
Labels come from sub-folder names when there are any. Pillow opens only the
formats of ``SUFFIX_FORMATS``, each file only as the format its suffix names
(``open_image``), so no other decoder (EPS would start Ghostscript) ever sees
user bytes. Sizes are read from the headers first, and each image's and the
whole upload's pixels are checked before anything is decoded; any file that
is not a readable image makes the whole upload fail, naming the files.
"""
from __future__ import annotations

import io
import os
import struct
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from aeviz.core import limits
from aeviz.data.archive import display_name, iter_members, shown
from aeviz.core.errors import DataError

# The formats aeviz decodes (Pillow's names), by file suffix. Kept small on purpose: each of
# Pillow's ~40 other decoders is attack surface, and EPS runs Ghostscript on the bytes.
SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".bmp": "BMP",
                  ".webp": "WEBP"}
IMAGE_SUFFIXES = tuple(SUFFIX_FORMATS)
_OPENERS = tuple(dict.fromkeys(SUFFIX_FORMATS.values()))   # the only formats Image.open may try
_SAME_FORMAT = {"MPO": "JPEG"}       # Pillow's JPEG opener returns multi-picture phone photos as MPO
# Image files people upload that aeviz does not decode: refused by name, never silently left out.
UNSUPPORTED_SUFFIXES = (".tif", ".tiff", ".heic", ".heif", ".avif", ".tga", ".pgm", ".ppm", ".pbm",
                        ".eps")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError, KeyError,
                 ZeroDivisionError, struct.error, Image.DecompressionBombError)
Files = list[tuple[str, bytes]]   # (relative posix name, content)


class ImageRefused(DataError):
    """One file is not an image aeviz opens; ``detail`` says why ("" when it is simply unreadable)."""

    def __init__(self, name: str, detail: str = ""):
        self.name, self.detail = name, detail
        super().__init__(f"{shown(name)} is not a readable image{f' ({detail})' if detail else ''}; "
                         f"aeviz opens only {_supported()} files, each named with its format's suffix")


def open_image(blob: bytes, name: str) -> Image.Image:
    """Pillow's lazy (header-only) image of ``blob``, opened only as the format ``name``'s suffix names.

    The one place aeviz hands user bytes to Pillow. Raises ``ImageRefused``.
    """
    suffix = PurePosixPath(name).suffix.lower()
    expected = SUFFIX_FORMATS.get(suffix)
    if expected is None:
        raise ImageRefused(name, f"{suffix or 'no suffix'} is not an image type aeviz opens")
    try:
        im = Image.open(io.BytesIO(blob), formats=_OPENERS)
    except _IMAGE_ERRORS:
        real = _looks_like(blob)
        raise ImageRefused(name, "" if real in (None, expected) else f"holds {real}, not {expected}") \
            from None
    real = _SAME_FORMAT.get(im.format, im.format)
    if real != expected:
        im.close()
        raise ImageRefused(name, f"holds {real}, not {expected}")
    return im


def _looks_like(blob: bytes) -> str | None:
    """The format whose magic bytes start ``blob``, for messages: only Pillow's prefix tests run."""
    Image.init()
    prefix = blob[:16]
    for fmt, (_, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(prefix) is True:
                return fmt
        except _IMAGE_ERRORS:                     # some tests read past a short prefix
            continue
    return None


def _supported(last: str = "and") -> str:
    """"PNG, JPEG, GIF, BMP and WebP": the formats aeviz opens, for messages."""
    names = [f.replace("WEBP", "WebP") for f in _OPENERS]
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def images_from_zip(data: bytes, where: str, max_items: int, image_size: tuple[int, int] | None,
                    max_values: int):
    files, unsupported = [], []
    for name, blob in iter_members(data, max_files=max_items + 1000):
        kind = _kind(name)
        if kind == "image":
            files.append((name, blob))
        elif kind == "unsupported":
            unsupported.append(name)
    _refuse_unsupported(unsupported, where)
    return _decode_all(files, where, max_items, image_size, max_values)


def images_from_folder(folder: Path, max_items: int, max_bytes: int,
                       image_size: tuple[int, int] | None, max_values: int):
    names, unsupported, total, where = [], [], 0, shown(str(folder))
    for root, dirs, files in os.walk(folder):             # does not follow symlinked folders
        dirs.sort()
        for f in sorted(files):
            path = Path(root, f)
            rel = path.relative_to(folder).as_posix()
            kind = None if path.is_symlink() else _kind(rel)
            if kind == "unsupported":
                unsupported.append(rel)
            if kind != "image":
                continue
            total += path.stat().st_size
            if total > max_bytes:
                raise DataError(f"{where}: images add up to more than {max_bytes / 2**20:.0f} "
                                "MiB (the limit)")
            names.append(rel)
            if len(names) > max_items:
                raise DataError(f"{where}: more than {max_items:,} images (the limit)")
    _refuse_unsupported(unsupported, where)
    files = [(rel, (folder / rel).read_bytes()) for rel in names]
    return _decode_all(files, where, max_items, image_size, max_values)


def _kind(name: str) -> str | None:
    """"image" for a file to decode, "unsupported" for an image aeviz refuses, None to skip."""
    parts = PurePosixPath(name).parts
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None
    suffix = PurePosixPath(name).suffix.lower()
    return "image" if suffix in SUFFIX_FORMATS else "unsupported" if suffix in UNSUPPORTED_SUFFIXES \
        else None


def _refuse_unsupported(names: list[str], where: str) -> None:
    if names:
        names = sorted(names)
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        raise DataError(f"{where}: {len(names)} image file(s) of a type aeviz does not open: "
                        f"{', '.join(shown(n) for n in names[:5])}{more}; convert them to "
                        f"{_supported('or')}, or remove them")


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
        _refuse_bad(bad, where)
    _check_total_pixels(sizes, where)
    w, h, size_note = _target_size(sizes, image_size)
    mode, channels = ("RGB", 3) if colour else ("L", 1)
    if len(files) * channels * h * w > max_values:
        raise DataError(f"{where}: {len(files):,} images of {channels}x{h}x{w} are more than "
                        f"{max_values:,} values; pass a smaller image_size or fewer images")
    x = np.empty((len(files), channels, h, w), np.uint8)
    for i, (name, blob) in enumerate(files):
        try:
            x[i] = _decode(blob, name, mode, w, h)
        except _IMAGE_ERRORS:                    # pixel data cut short or corrupt past the header
            bad[name] = ""
    _refuse_bad(bad, where)
    if channels == 3 and (x[:, 0] == x[:, 1]).all() and (x[:, 0] == x[:, 2]).all():
        x, mode = np.ascontiguousarray(x[:, :1]), "L"      # colour files holding grey pictures
    labels = _folder_labels([name for name, _ in files], where)
    notes = [f"images from {where}", size_note, "greyscale" if mode == "L" else "RGB"]
    if labels is not None:
        notes.append(f"labels from {len(set(labels))} folder names")
    return x, labels, notes


def _decode(blob: bytes, name: str, mode: str, w: int, h: int) -> np.ndarray:
    """One image's pixels as uint8 (C, H, W) in ``mode``, resized to w x h."""
    with open_image(blob, name) as im:
        im = _to_mode(im, mode)
        if im.size != (w, h):
            im = im.resize((w, h), Image.Resampling.LANCZOS)
        return np.asarray(im, np.uint8).reshape(h, w, len(mode)).transpose(2, 0, 1)


def _headers(files: Files) -> tuple[list[tuple[int, int]], bool, dict[str, str]]:
    """(width, height) of each readable image, whether any has colour, {unreadable name: why}.

    Reads headers only: nothing here decodes pixels (a palette is read from its header chunk).
    """
    sizes, colour, bad = [], False, {}
    for name, blob in files:
        try:
            with open_image(blob, name) as im:
                if im.width * im.height > limits.IMAGE_MAX_SOURCE_PIXELS or min(im.size) < 1:
                    bad[name] = (f"{im.width}x{im.height} pixels; at most "
                                 f"{limits.IMAGE_MAX_SOURCE_PIXELS:,} per image")
                    continue
                sizes.append(im.size)
                colour = colour or _has_colour(im)
        except ImageRefused as e:
            bad[name] = e.detail
        except _IMAGE_ERRORS:
            bad[name] = ""
    return sizes, colour, bad


def _check_total_pixels(sizes: list[tuple[int, int]], where: str) -> None:
    """Decoding costs CPU per source pixel: budget the whole upload, not only each image."""
    total = sum(w * h for w, h in sizes)
    if total > limits.UPLOAD_MAX_TOTAL_PIXELS:
        raise DataError(f"{where}: the {len(sizes):,} images hold {total:,} pixels in all; the limit "
                        f"for one upload is {limits.UPLOAD_MAX_TOTAL_PIXELS:,}; shrink them before "
                        f"uploading (aeviz uses at most {limits.IMAGE_MAX_SIDE}x"
                        f"{limits.IMAGE_MAX_SIDE}) or upload fewer")


def _has_colour(im: Image.Image) -> bool:
    if im.mode == "P":
        # im.palette as the header set it: im.getpalette() would decode the whole image
        if im.palette is None:
            return True                      # decoded as RGB; grey pictures are made L after decoding
        width = len(im.palette.mode)         # "RGB" or "RGBA" entries
        raw = np.frombuffer(im.palette.palette, np.uint8)
        palette = raw[:len(raw) // width * width].reshape(-1, width)[:, :3]
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


def _folder_labels(names: list[str], where: str) -> np.ndarray | None:
    """Immediate sub-folder under the common top folder, or None when all sit together.

    Folder names are display names: NFC, so folders that look the same are one class.
    """
    dirs = [tuple(display_name(p, f"{where}: folder") for p in PurePosixPath(n).parent.parts)
            for n in names]
    common = 0
    while all(len(d) > common for d in dirs) and len({d[common] for d in dirs}) == 1:
        common += 1
    labels = [d[common] if len(d) > common else "(top level)" for d in dirs]
    return None if all(d == dirs[0] for d in dirs) else np.array(labels)


def _refuse_bad(bad: dict[str, str], where: str) -> None:
    """Refuse the upload naming up to 5 bad files (escaped), each with why where known."""
    if bad:
        names = sorted(bad)
        listed = [shown(n) + (f" ({bad[n]})" if bad[n] else "") for n in names[:5]]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        raise DataError(f"{where}: {len(names)} file(s) are not readable images: "
                        f"{', '.join(listed)}{more}; aeviz opens only {_supported()} files, each "
                        "named with its format's suffix; remove or replace them")
