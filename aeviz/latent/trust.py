"""How far a point is from the data: the one definition every page, metric and map uses.

Fitted on reference points X (N, D), latent codes or the 2-D points of a map:

    spacing_   the median, over the distinct reference points (a seeded
               subsample of at most ``max_spacing_points`` of them), of the
               distance to the nearest *other distinct* reference point;
    ratio(q)   the distance from q to the nearest reference point / spacing_:
               0 = on a reference point, ~1 = as far as data points are from
               each other, >> 1 = where there is no data.

Ratios are read through two thresholds: ``<= NEAR`` is "near" (on the data),
``> FAR`` is "far" (off the data), in between is "between". Captions, the
colour of the page's notice and the off-data shares in ``aeviz.metrics`` all
use them. The ratio is scale-free: scaling data and queries by c scales
distances and spacing alike.

Where the earlier copies disagreed, this module picks:
- duplicates are one point for the spacing (as the map spacing did; the code
  version counted a duplicate as a neighbour at distance 0, so a data set with
  repeated points had a spacing of 0);
- the nearest point is searched among *all* reference points (the code version
  kept a 5000-point subsample, so real codes outside it scored > 0); only the
  spacing estimate is subsampled, against all distinct points, so it does not
  grow with the subsample's thinner density;
- "off the data" is ratio > FAR (the metric used to say: farther than the 95th
  percentile of nearest-neighbour distances).
All searches are exact, through ``aeviz.latent.knn``.
"""
from __future__ import annotations

import numpy as np

from aeviz.core.errors import ConfigError
from aeviz.latent.knn import knn_query

NEAR = 1.5          # ratio <= NEAR: as close as data points are to each other ("on the data")
FAR = 4.0           # ratio > FAR: several typical gaps from any reference point ("far")
LEVELS = ("near", "between", "far")
LABELS = {"near": "on the data", "between": "near the data", "far": "far from any real code"}


def trust_level(ratio: float) -> str:
    """"near" (ratio <= NEAR), "between" (<= FAR) or "far" (> FAR, or NaN)."""
    if ratio <= NEAR:
        return "near"
    if ratio <= FAR:
        return "between"
    return "far"


def trust_label(ratio: float) -> str:
    """Words for a ratio, for captions."""
    return LABELS[trust_level(ratio)]


class DataDistance:
    """Distance of query points to the nearest reference point, in units of the data's spacing.

    ``fit(X)`` stores X (N, D) and its ``spacing_``; ``nearest(points)`` gives
    the nearest reference point of each query, ``ratio(points)`` its distance
    divided by ``spacing_`` (see the module docstring for the definition).
    """

    def __init__(self, max_spacing_points: int = 1000, random_state: int = 0):
        self.max_spacing_points = max_spacing_points
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> "DataDistance":
        ref = _as_points(X, "reference points")
        if len(ref) < 2:
            raise ConfigError(f"need at least 2 reference points to measure their spacing, "
                              f"got {len(ref)}")
        m = self.max_spacing_points
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ConfigError(f"max_spacing_points must be a whole number >= 1, got {m!r}")
        distinct = np.unique(ref, axis=0)                      # (U, D), duplicates are one point
        if len(distinct) < 2:
            raise ConfigError(f"all {len(ref)} reference points are identical: there is no "
                              "spacing to measure distances in; use data with distinct points")
        rows = np.arange(len(distinct))
        if len(distinct) > m:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(len(distinct), int(m), replace=False))
        _, dist = knn_query(distinct, distinct[rows], 2)      # column 0: the point itself
        spacing = float(np.median(dist[:, 1]))
        if not spacing > 0:
            raise ConfigError("the reference points are too close together to measure a spacing "
                              f"(median nearest distance {spacing}); rescale the data")
        self.reference_ = ref
        self.n_features_in_ = ref.shape[1]
        self.spacing_ = spacing
        return self

    def nearest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices (M,) int64 into the reference points, distances (M,) float64) of the nearest one."""
        if not hasattr(self, "reference_"):
            raise ConfigError("this DataDistance is not fitted yet: call fit(reference_points) first")
        p = _as_points(np.atleast_2d(points), "query points")
        if p.shape[1] != self.n_features_in_:
            raise ConfigError(f"query points have {p.shape[1]} dimensions, the reference points "
                              f"{self.n_features_in_}")
        idx, dist = knn_query(self.reference_, p, 1)
        return idx[:, 0], dist[:, 0].astype(np.float64)

    def ratio(self, points: np.ndarray) -> np.ndarray:
        """(M,) distance to the nearest reference point / ``spacing_``."""
        return self.nearest(points)[1] / self.spacing_


def neighbours(points: np.ndarray, index: int, k: int = 8) -> np.ndarray:
    """Indices of the ``min(k, N - 1)`` points nearest to ``points[index]``, nearest first, itself excluded.

    A duplicate of the point counts as a neighbour at distance 0; ties go to the lower index.
    """
    p = _as_points(points, "points")
    if not 0 <= int(index) < len(p):
        raise ConfigError(f"index must be in 0..{len(p) - 1}, got {index}")
    k = min(int(k), len(p) - 1)
    if k < 1:
        return np.zeros(0, np.int64)
    idx, _ = knn_query(p, p[int(index)][None], k + 1)         # the point itself is among k + 1
    row = idx[0]
    return row[row != int(index)][:k]


def _as_points(x: np.ndarray, what: str) -> np.ndarray:
    """(N, D) float64, finite; ConfigError saying what came otherwise."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ConfigError(f"{what} must be a (N, D) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{what} contain NaN or inf; drop or fix those rows first")
    return a
