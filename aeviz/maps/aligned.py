"""2-D frames of a training timeline in which points move instead of jumping.

2-D codes are their own map: the frames are the codes. Wider codes get a PCA
per frame (its own axes, so the map shows that epoch's spread), then each
frame is rotated or reflected onto the previous one by orthogonal Procrustes
(Schönemann 1966): the rotation R minimising |Y_f R - Y_{f-1}|, from the SVD of
Y_f^T Y_{f-1}. A PCA per frame alone flips and swaps its axes whenever two
variances cross, which reads as points teleporting; ``median_displacement``
measures both (tests/maps/test_aligned.py compares them on a real training run).
"""
from __future__ import annotations

import numpy as np

from aeviz.core.errors import ProjectionError


def _check(codes: np.ndarray) -> np.ndarray:
    c = np.asarray(codes, np.float64)
    if c.ndim != 3 or c.shape[0] < 1 or c.shape[1] < 3 or not np.isfinite(c).all():
        raise ProjectionError(f"a timeline's codes must be finite (frames, points >= 3, dims), got {c.shape}")
    return c


def pca_frame(codes: np.ndarray) -> np.ndarray:
    """(P, D) -> (P, 2) principal-component scores of one frame (one dimension pads with 0)."""
    centred = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    scores = centred @ vt[:2].T
    return scores if scores.shape[1] == 2 else np.pad(scores, ((0, 0), (0, 2 - scores.shape[1])))


def procrustes(moving: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``moving`` (P, 2) rotated/reflected to best match ``target`` (P, 2), both centred."""
    u, _, vt = np.linalg.svd(moving.T @ target)
    return moving @ (u @ vt)


def independent_frames(codes: np.ndarray) -> np.ndarray:
    """(F, P, D) -> (F, P, 2): a PCA per frame with no alignment (the baseline)."""
    return np.stack([pca_frame(f) for f in _check(codes)])


def aligned_frames(codes: np.ndarray) -> tuple[np.ndarray, str]:
    """(F, P, D) -> ((F, P, 2) frames, how they were made): 'latent' for 2-D codes, else
    'aligned PCA' (a PCA per frame, each Procrustes-rotated onto the one before)."""
    c = _check(codes)
    if c.shape[2] == 2:
        return c, "latent"
    frames = [pca_frame(c[0])]
    for f in c[1:]:
        frames.append(procrustes(pca_frame(f), frames[-1]))
    return np.stack(frames), "aligned PCA"


def median_displacement(frames: np.ndarray) -> np.ndarray:
    """(F-1,) median distance a point moves between consecutive frames, in units of the later
    frame's RMS spread (so growing codes do not count as motion)."""
    f = np.asarray(frames, np.float64)
    out = []
    for a, b in zip(f[:-1], f[1:]):
        spread = np.sqrt(((b - b.mean(0)) ** 2).sum(1).mean()) or 1.0
        out.append(np.median(np.linalg.norm(b - a, axis=1)) / spread)
    return np.array(out)
