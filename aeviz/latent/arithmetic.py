"""Latent-space operations behind the Decode page: traversals, grids, arithmetic.

All functions take and return plain float64 numpy codes; decoding them is
the model's business (``model.decode_numpy``).
"""
from __future__ import annotations

import numpy as np

from aeviz.core import limits
from aeviz.core.errors import ConfigError

PRIOR_RANGE = (-3.0, 3.0)       # a VAE's N(0, I) prior: +-3 std covers 99.7%


def _code(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1 or not np.isfinite(z).all():
        raise ConfigError(f"a code must be one finite vector (D,), got shape {z.shape}")
    return z


def dim_ranges(codes: np.ndarray, quantiles: tuple[float, float] = (0.02, 0.98)) -> np.ndarray:
    """Per-dimension (low, high) covering the data's central mass: (D, 2)."""
    c = np.asarray(codes, dtype=np.float64)
    if c.ndim != 2 or len(c) == 0:
        raise ConfigError(f"codes must be a non-empty (N, D) array, got shape {c.shape}")
    lo, hi = np.quantile(c, quantiles, axis=0)
    flat = hi - lo < 1e-9                       # a dead unit: give it a unit-wide range
    lo, hi = np.where(flat, lo - 0.5, lo), np.where(flat, hi + 0.5, hi)
    return np.stack([lo, hi], axis=1)


def traversal_grid(z: np.ndarray, ranges: np.ndarray, n_steps: int,
                   dims: list[int] | None = None) -> np.ndarray:
    """Vary one dimension at a time from ``z``: (len(dims), n_steps, D).

    Row r sweeps dimension ``dims[r]`` linearly over ``ranges[dims[r]]``
    while every other coordinate stays at ``z`` (a beta-VAE disentanglement
    picture: a disentangled unit changes one factor along its row).
    """
    z = _code(z)
    ranges = np.asarray(ranges, dtype=np.float64)
    if ranges.shape != (len(z), 2):
        raise ConfigError(f"ranges must be (D, 2) = ({len(z)}, 2), got {ranges.shape}")
    if not 2 <= n_steps <= limits.LATENT_MAX_GRID:
        raise ConfigError(f"n_steps must be in 2..{limits.LATENT_MAX_GRID}, got {n_steps}")
    dims = list(range(len(z))) if dims is None else [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < len(z)]
    if bad:
        raise ConfigError(f"dimensions {bad} do not exist; the code has {len(z)} (0..{len(z) - 1})")
    out = np.repeat(np.repeat(z[None, None], len(dims), 0), n_steps, 1)    # (R, S, D)
    for r, d in enumerate(dims):
        out[r, :, d] = np.linspace(ranges[d, 0], ranges[d, 1], n_steps)
    return out


def set_dims(z: np.ndarray, values: dict[int, float]) -> np.ndarray:
    """A copy of ``z`` with some coordinates replaced (the per-dimension sliders)."""
    out = _code(z).copy()
    for d, v in values.items():
        if not 0 <= int(d) < len(out):
            raise ConfigError(f"dimension {d} does not exist; the code has {len(out)}")
        out[int(d)] = float(v)
    return out


def plane_grid(x_range: tuple[float, float], y_range: tuple[float, float],
               n_cols: int, n_rows: int | None = None) -> np.ndarray:
    """Cell centres of a regular grid over a rectangle: (n_rows * n_cols, 2).

    Row-major with the *top* row first (largest y), so decoded images laid
    out as an image grid have the same orientation as the map.
    """
    n_rows = n_cols if n_rows is None else n_rows
    if not (2 <= n_cols <= limits.LATENT_MAX_GRID and 2 <= n_rows <= limits.LATENT_MAX_GRID):
        raise ConfigError(f"grid size must be 2..{limits.LATENT_MAX_GRID} per side, got {n_cols} x {n_rows}")
    (x0, x1), (y0, y1) = x_range, y_range
    if not (np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0):
        raise ConfigError(f"grid region must have finite low < high, got x={x_range}, y={y_range}")
    xs = np.linspace(x0, x1, n_cols)
    ys = np.linspace(y1, y0, n_rows)
    gx, gy = np.meshgrid(xs, ys)                # (n_rows, n_cols) each
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def class_means(codes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes (C,), mean codes (C, D)) over the classes present in ``labels``."""
    c = np.asarray(codes, dtype=np.float64)
    y = np.asarray(labels)
    if c.ndim != 2 or len(c) != len(y):
        raise ConfigError(f"codes (N, D) and labels (N,) must match, got {c.shape} and {y.shape}")
    classes = np.unique(y)
    return classes, np.stack([c[y == k].mean(0) for k in classes])


def arithmetic(z: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray,
               alphas: np.ndarray | float) -> np.ndarray:
    """z + alpha * (mean_b - mean_a) for each alpha: (len(alphas), D).

    With mean_a/mean_b the means of classes A and B, moving along the
    difference "turns an A into a B" where the latent space is linear enough.
    """
    z, a, b = _code(z), _code(mean_a), _code(mean_b)
    if not len(z) == len(a) == len(b):
        raise ConfigError(f"z, mean_a and mean_b must have the same size, got {len(z)}, {len(a)}, {len(b)}")
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    return z[None] + alphas[:, None] * (b - a)[None]
