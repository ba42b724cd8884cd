"""2-D maps of latent codes: ``latent``, ``pca``, ``umap`` and ``tsne``.

    proj = make_projection("umap", n_neighbors=15, random_state=0)
    xy = proj.fit_transform(codes)              # (N, 2) float32, == proj.embedding_
    new_xy = proj.transform(more_codes)         # place new codes on the same map
    z, trust = proj.inverse_with_trust(clicks)  # map points -> codes (+ how far to trust)

Every estimator follows scikit-learn's contract (see aeviz.project_base).
``latent`` and ``pca`` are exact both ways; UMAP and t-SNE use a fitted
inverse (aeviz.inverse). Large N is never subsampled silently: callers ask
for ``stratified_subsample`` explicitly.
"""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from aeviz.core.errors import ProjectionError
from aeviz.maps.inverse import DEFAULT_INVERSE, INVERSES, KNNBlend, make_inverse
from aeviz.maps.base import METHODS, Projection, check_codes, register, require
from aeviz.maps.nonlinear import TSNEProjection, UMAPProjection  # registers "umap", "tsne"

__all__ = ["METHODS", "METHOD_NAMES", "Projection", "LatentProjection", "PCAProjection", "UMAPProjection",
           "TSNEProjection", "FixedMap", "make_projection", "stratified_subsample", "check_codes"]


@register("latent")
class LatentProjection(Projection):
    """The identity, for models whose codes are already 2-D."""
    exact = True

    def __init__(self, random_state: int | None = 0):
        self.random_state = random_state           # unused; every method accepts it

    def _validate(self, codes: np.ndarray) -> None:
        require(codes.shape[1] == 2,
                f"the latent map needs 2-D codes, these are {codes.shape[1]}-dimensional; "
                "use method 'pca' (fast, linear) or 'umap' / 'tsne' (non-linear)")

    def _fit(self, codes: np.ndarray) -> np.ndarray:
        return codes.copy()

    def _transform(self, codes: np.ndarray) -> np.ndarray:
        return codes

    def _inverse(self, points: np.ndarray) -> np.ndarray:
        return points


@register("pca")
class PCAProjection(Projection):
    """The two leading principal components (full SVD: deterministic, exact inverse).

    ``inverse_transform`` returns the point of the 2-D principal plane (in code
    space) that maps to the given map point, so transform(inverse(y)) == y.
    """
    min_points = 2
    exact = True

    def __init__(self, whiten: bool = False, random_state: int | None = 0):
        self.whiten = whiten
        self.random_state = random_state

    def _validate(self, codes: np.ndarray) -> None:
        require(codes.shape[1] >= 2,
                "PCA to 2-D needs codes with at least 2 dimensions, these have 1; "
                "use 'umap' or 'tsne' to spread 1-D codes over a plane")
        require(isinstance(self.whiten, (bool, np.bool_)),
                f"whiten must be True or False, got {self.whiten!r}")

    def _fit(self, codes: np.ndarray) -> np.ndarray:
        self.pca_ = PCA(n_components=2, whiten=bool(self.whiten), svd_solver="full")
        return self.pca_.fit_transform(codes.astype(np.float64))

    def _transform(self, codes: np.ndarray) -> np.ndarray:
        return self.pca_.transform(codes.astype(np.float64))

    def _inverse(self, points: np.ndarray) -> np.ndarray:
        return self.pca_.inverse_transform(points.astype(np.float64))


# every registered method, the cheap exact ones first: what the app's pickers, the URL and the CLI offer
METHOD_NAMES = tuple(sorted(METHODS, key=lambda name: not METHODS[name].exact))


class FixedMap(Projection):
    """A map computed earlier (e.g. a cached UMAP/t-SNE) made usable without refitting.

    ``fit(codes)`` takes the training codes whose map is ``embedding`` (N, 2).
    New codes are placed by a kNN blend of the map positions of their 8
    nearest training codes (exact for training codes); map points go back to
    codes with the usual fitted inverse. Trade-off against the original
    estimator's ``transform``: milliseconds instead of an optimisation, and
    the same answer in every session, but a new code can only land among the
    positions of its code-space neighbours (never in empty map space).
    """

    def __init__(self, embedding: np.ndarray | None = None, k: int = 8,
                 inverse: str = DEFAULT_INVERSE, random_state: int | None = 0):
        self.embedding = embedding
        self.k = k
        self.inverse = inverse
        self.random_state = random_state

    def _validate(self, codes: np.ndarray) -> None:
        emb = self.embedding
        require(emb is not None and np.shape(emb) == (len(codes), 2),
                f"embedding must be an ({len(codes)}, 2) array matching the codes, got shape "
                f"{None if emb is None else np.shape(emb)}")
        require(bool(np.isfinite(emb).all()), "embedding contains NaN or inf")
        require(self.inverse in INVERSES,
                f"inverse must be one of {', '.join(sorted(INVERSES))}, got {self.inverse!r}")

    def _fit(self, codes: np.ndarray) -> np.ndarray:
        emb = np.asarray(self.embedding, dtype=np.float32)
        self.forward_ = KNNBlend(k=self.k).fit(codes, emb)
        self.inverse_ = make_inverse(self.inverse).fit(emb, codes)
        return emb

    def _transform(self, codes: np.ndarray) -> np.ndarray:
        return self.forward_.predict(codes)

    def _inverse(self, points: np.ndarray) -> np.ndarray:
        return self.inverse_.predict(points)


def make_projection(method: str, **params) -> Projection:
    """An unfitted projection from METHODS; unknown method or parameter -> ProjectionError."""
    try:
        cls = METHODS[method]
    except (KeyError, TypeError):
        raise ProjectionError(f"unknown projection method {method!r}; "
                              f"choose one of: {', '.join(sorted(METHODS))}") from None
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ProjectionError(f"unknown parameter(s) {', '.join(unknown)} for {method}; "
                              f"valid: {', '.join(valid)}")
    return cls(**params)


def method_params(method: str) -> dict:
    """The default parameters of ``method`` (what a cache key should include)."""
    return make_projection(method).get_params()


def stratified_subsample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` points keeping each label's share (largest remainder).

    Every label keeps at least one point when ``n`` allows. ``n >= len(labels)``
    returns all indices. Deterministic for a given seed.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ProjectionError(f"labels must be 1-D, got shape {labels.shape}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ProjectionError(f"subsample size must be a positive integer, got {n!r}")
    total = len(labels)
    if n >= total:
        return np.arange(total)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = _quotas(counts, n)
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(inverse == c), size=q, replace=False)
              for c, q in enumerate(quota) if q > 0]
    return np.sort(np.concatenate(picked))


def _quotas(counts: np.ndarray, n: int) -> np.ndarray:
    """Per-class sample sizes summing to n: proportional (largest remainder), then every
    class that got none takes one from the currently largest quota (when n allows)."""
    share = counts * n / counts.sum()
    quota = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - quota), kind="stable")
    quota[order[:n - int(quota.sum())]] += 1
    for c in sorted(np.flatnonzero(quota == 0), key=lambda c: -counts[c]):
        donor = int(np.argmax(quota))
        if quota[donor] <= 1:
            break
        quota[donor] -= 1
        quota[c] = 1
    return quota
