"""Decoded arrays -> pictures: uint8 frames, grids, filmstrips, PNG and GIF bytes.

Input images are float arrays in [0, 1] shaped (N, C, H, W) with C in {1, 3}
(the models' layout), (N, H, W), or a single (C, H, W) / (H, W) image.
PCA reconstructions can leave [0, 1]; they are clipped, not rescaled, so a
picture never exaggerates contrast.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from aeviz.core.errors import DataError

MAX_PIXELS = 64 * 2 ** 20       # refuse to build pictures above ~64 MP


def is_image_shape(sample_shape: tuple[int, ...]) -> bool:
    """True for (C, H, W) with C in {1, 3}, or (H, W): things a screen can show."""
    s = tuple(sample_shape)
    return (len(s) == 3 and s[0] in (1, 3) and min(s[1:]) >= 2) or (len(s) == 2 and min(s) >= 2)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """A batch as uint8 frames: (N, H, W) grey or (N, H, W, 3) colour.

    Takes (N, C, H, W) floats, (N, H, W) floats, one (H, W) image, or uint8
    frames (returned as they are). A single (C, H, W) image needs ``x[None]``.
    """
    a = np.asarray(images)
    if a.dtype == np.uint8 and (a.ndim == 3 or (a.ndim == 4 and a.shape[3] == 3)):
        return a                                     # already frames (N, H, W[, 3])
    if a.ndim == 2:
        a = a[None]                                  # one (H, W) image -> batch of one
    if a.ndim == 4 and a.shape[1] in (1, 3):
        a = a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1)    # (N, H, W[, 3])
    elif a.ndim != 3:
        raise DataError(f"expected images (N, C, H, W) with C in 1 or 3, or (N, H, W); got shape "
                        f"{a.shape}. Vector datasets (e.g. swiss-roll) have no pictures: "
                        "show their decoded coordinates instead")
    if a.dtype == np.uint8:
        return a
    a = np.nan_to_num(a.astype(np.float32), nan=0.0)
    return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 frames (N, H, W[, 3]): 8x8 digits stay crisp."""
    if factor < 1:
        raise DataError(f"upscale factor must be >= 1, got {factor}")
    return frames.repeat(factor, axis=1).repeat(factor, axis=2) if factor > 1 else frames


def image_grid(images: np.ndarray, n_cols: int | None = None, pad: int = 1,
               pad_value: int = 255, scale: int = 1) -> np.ndarray:
    """Tile a batch row-major into one uint8 picture (H', W'[, 3]).

    ``n_cols`` defaults to ceil(sqrt(N)); missing cells at the end stay ``pad_value``.
    """
    frames = upscale(to_uint8(images), scale)
    n, h, w = frames.shape[:3]
    if n == 0:
        raise DataError("no images to tile")
    n_cols = n_cols or math.ceil(math.sqrt(n))
    n_rows = math.ceil(n / n_cols)
    height, width = n_rows * h + (n_rows + 1) * pad, n_cols * w + (n_cols + 1) * pad
    if height * width > MAX_PIXELS:
        raise DataError(f"a {width}x{height} picture is too large; show fewer images or a smaller scale")
    out = np.full((height, width, *frames.shape[3:]), pad_value, dtype=np.uint8)
    for i, f in enumerate(frames):
        r, c = divmod(i, n_cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = f
    return out


def filmstrip(images: np.ndarray, pad: int = 1, scale: int = 1) -> np.ndarray:
    """All images side by side in one row."""
    return image_grid(images, n_cols=len(to_uint8(images)), pad=pad, scale=scale)


def png_bytes(picture: np.ndarray) -> bytes:
    """PNG of one picture: a uint8 (H, W[, 3]) array, or one float image as ``to_uint8`` takes."""
    a = np.asarray(picture)
    if not (a.dtype == np.uint8 and (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3))):
        if a.ndim == 3 and a.shape[0] in (1, 3):
            a = a[None]                              # one (C, H, W) image
        a = to_uint8(a)
        if len(a) != 1:
            raise DataError(f"png_bytes takes one picture; got a batch of {len(a)} (tile it first)")
        a = a[0]
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def gif_bytes(images: np.ndarray, duration_ms: int = 120, scale: int = 4,
              bounce: bool = False, loop: int = 0) -> bytes:
    """Animated GIF, one frame per image; ``bounce`` plays forward then back."""
    frames = upscale(to_uint8(images), scale)
    if len(frames) == 0:
        raise DataError("no frames for the GIF")
    if bounce and len(frames) > 2:
        frames = np.concatenate([frames, frames[-2:0:-1]])
    pics = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:],
                 duration=max(20, int(duration_ms)), loop=loop, disposal=2)
    return buf.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes back to a uint8 array (tests and round trips)."""
    # PNG only, chosen explicitly: no other Pillow decoder (EPS runs Ghostscript) sees the bytes.
    # render may not import aeviz.data, so this is aeviz.data.images.open_image's one sibling.
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            return np.asarray(im)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"not a readable PNG image ({type(e).__name__}: {e})") from None
