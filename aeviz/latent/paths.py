"""Paths through latent space: linear, spherical or a prior's geodesic, through any number of waypoints.

A path of K waypoints with ``steps`` intervals per segment has
(K - 1) * steps + 1 points and passes exactly through every waypoint.
How far each step lies from the real codes is ``aeviz.latent.trust``'s job.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from aeviz.core.errors import ConfigError

MAX_STEPS = 512                 # per segment; a filmstrip of more is unreadable
MAX_WAYPOINTS = 16


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Straight line: (T, D) points for t in [0, 1] (T,)."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (1 - t) * a[None] + t * b[None]


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Great-circle direction, linearly interpolated norm: (T, D).

    Splitting direction and norm keeps every point's norm between the two
    endpoint norms (equal norms stay exactly equal), which matters for a VAE
    prior whose mass sits on a shell. Parallel or antipodal endpoints (no
    unique great circle) and zero vectors fall back to ``lerp``.
    """
    t = np.asarray(t, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    wa = np.sin((1 - t) * omega) / np.sin(omega)         # (T,)
    wb = np.sin(t * omega) / np.sin(omega)
    direction = wa[:, None] * ua[None] + wb[:, None] * ub[None]       # unit vectors (T, D)
    norm = (1 - t) * na + t * nb
    return direction * norm[:, None]


METHODS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "linear": lerp,
    "slerp": slerp,
}


@dataclass(frozen=True)
class Path:
    points: np.ndarray          # (N, D) float64 codes along the path
    segment: np.ndarray         # (N,) int: which waypoint pair each point lies between
    t: np.ndarray               # (N,) float: position within that segment, 0..1
    waypoint_steps: np.ndarray  # (K,) int: index in ``points`` of each waypoint


GEODESIC = "geodesic"            # the method that follows a prior's own geometry (a ``geodesic`` fn)


def interpolate(waypoints: np.ndarray, steps: int, method: str = "linear",
                geodesic: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None) -> Path:
    """Walk through ``waypoints`` (K, D), K >= 2, with ``steps`` intervals per segment.

    ``method="geodesic"`` walks along ``geodesic(a, b, t)`` (a prior's shortest
    paths: great circles on a sphere, hyperbolic geodesics on a hyperboloid)."""
    w = np.asarray(waypoints, dtype=np.float64)
    if w.ndim != 2 or not 2 <= len(w) <= MAX_WAYPOINTS:
        raise ConfigError(f"waypoints must be a (K, D) array with 2..{MAX_WAYPOINTS} rows, "
                          f"got shape {w.shape}: pick at least a start and an end")
    if not np.isfinite(w).all():
        raise ConfigError("waypoints contain NaN or inf; pick points with finite codes")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise ConfigError(f"steps must be in 1..{MAX_STEPS} per segment, got {steps}")
    methods = {**METHODS, GEODESIC: geodesic} if geodesic is not None else METHODS
    try:
        fn = methods[method]
    except KeyError:
        raise ConfigError(f"unknown interpolation {str(method)[:40]!r}; known: {', '.join(methods)}") from None
    steps = int(steps)
    t_full = np.linspace(0.0, 1.0, steps + 1)
    parts, segs, ts = [], [], []
    for k in range(len(w) - 1):
        t = t_full if k == len(w) - 2 else t_full[:-1]   # the next segment supplies the shared point
        pts = fn(w[k], w[k + 1], t)
        pts[0] = w[k]                                     # exact, not merely close
        if k == len(w) - 2:
            pts[-1] = w[k + 1]
        parts.append(pts)
        segs.append(np.full(len(t), k))
        ts.append(t)
    return Path(np.concatenate(parts), np.concatenate(segs), np.concatenate(ts),
                np.arange(len(w)) * steps)


def class_mean(codes: np.ndarray, labels: np.ndarray, label: int) -> np.ndarray:
    """Mean code of one class: (D,)."""
    mask = np.asarray(labels) == label
    if not mask.any():
        raise ConfigError(f"class {label!r} has no points in this split; pick another class")
    return np.asarray(codes, dtype=np.float64)[mask].mean(0)


def random_member(labels: np.ndarray, label: int, seed: int) -> int:
    """Index of a seeded random point of class ``label``."""
    idx = np.flatnonzero(np.asarray(labels) == label)
    if len(idx) == 0:
        raise ConfigError(f"class {label!r} has no points in this split; pick another class")
    return int(np.random.default_rng(seed).choice(idx))
