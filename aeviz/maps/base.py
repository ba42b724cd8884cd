"""The contract every 2-D map of latent codes keeps, and the input checks.

A projection is a scikit-learn style estimator (parameters stored unchanged
in ``__init__``, validated in ``fit``, fitted state ending in ``_``) with:

    fit(codes (N, D)) -> self          embedding_ (N, 2) float32, codes_ (N, D)
    transform(codes (M, D)) -> (M, 2)  place new codes on the fitted map
    inverse_transform(map (M, 2)) -> (M, D)
    inverse_with_trust(map (M, 2)) -> (codes, trust)   see aeviz.inverse

Bad input is refused here, before umap/openTSNE/numba see it, with a
ProjectionError that says what came and what to do.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from aeviz.core.errors import ProjectionError
from aeviz.maps.inverse import inverse_with_trust

METHODS: dict[str, type["Projection"]] = {}


def register(name: str):
    """Class decorator: make a Projection available as ``make_projection(name)``."""
    def add(cls):
        cls.method = name
        METHODS[name] = cls
        return cls
    return add


def check_codes(codes, what: str = "codes") -> np.ndarray:
    """Validated (N, D) float32 C-contiguous copy of ``codes``; ProjectionError otherwise."""
    try:
        arr = np.asarray(codes)
    except (TypeError, ValueError) as e:
        raise ProjectionError(f"{what} must be a numeric array (points, dims): {e}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ProjectionError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        raise ProjectionError(
            f"{what} must be 2-D (points, dims), got a 1-D array of shape {arr.shape}; use "
            "a.reshape(-1, 1) for many points of one dimension or a.reshape(1, -1) for one point")
    if arr.ndim != 2:
        raise ProjectionError(f"{what} must be 2-D (points, dims), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ProjectionError(f"{what} are empty (shape {arr.shape}); nothing to map")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ProjectionError(
            f"{what} contain NaN or inf in {int(bad.sum())} of {len(arr)} rows (first: row "
            f"{int(np.argmax(bad))}); a diverged model produces these; retrain it or drop the rows")
    return arr


class Projection(BaseEstimator, TransformerMixin):
    """Base class: validation, timing and the inverse shared by every method."""

    method = "base"          # registry key, set by @register
    min_points = 1           # fewest points `fit` accepts (after de-duplication, where done)
    exact = False            # True: refitting is cheap and deterministic, transform/inverse exact

    # -- subclass hooks -----------------------------------------------------
    def _validate(self, codes: np.ndarray) -> None:
        """Check parameters against the data; raise ProjectionError if unusable."""

    def _fit(self, codes: np.ndarray) -> np.ndarray:          # -> (N, 2)
        raise NotImplementedError

    def _transform(self, codes: np.ndarray) -> np.ndarray:    # (M, D) -> (M, 2)
        raise NotImplementedError

    def _inverse(self, points: np.ndarray) -> np.ndarray:     # (M, 2) -> (M, D)
        raise NotImplementedError

    # -- public API ---------------------------------------------------------
    def fit(self, X, y=None) -> "Projection":
        codes = check_codes(X)
        if len(codes) > 1 and float(np.ptp(codes, axis=0).max()) == 0.0:
            raise ProjectionError(
                f"all {len(codes)} codes are identical (zero variance): a map would be a single "
                "point. The encoder has collapsed (e.g. VAE posterior collapse); retrain it")
        if len(codes) < self.min_points:
            raise ProjectionError(f"{self.method} needs at least {self.min_points} points, "
                                  f"got {len(codes)}")
        self._validate(codes)
        start = time.perf_counter()
        embedding = self._fit(codes)
        self.codes_ = codes
        self.n_features_in_ = codes.shape[1]
        self.embedding_ = np.ascontiguousarray(embedding, dtype=np.float32)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        return self.fit(X).embedding_.copy()

    def transform(self, X) -> np.ndarray:
        codes = self._check_new_codes(X)
        return np.ascontiguousarray(self._transform(codes), dtype=np.float32)

    def inverse_transform(self, X) -> np.ndarray:
        self._check_fitted()
        points = check_codes(X, "map points")
        if points.shape[1] != 2:
            raise ProjectionError(f"map points must be (M, 2), got shape {points.shape}")
        return np.ascontiguousarray(self._inverse(points), dtype=np.float32)

    def inverse_with_trust(self, X) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Codes for map points plus trust scores; see aeviz.inverse.inverse_with_trust."""
        return inverse_with_trust(self, X)

    # -- helpers ------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "embedding_"):
            raise ProjectionError(f"this {self.method} projection is not fitted yet; call fit first")

    def _check_new_codes(self, X) -> np.ndarray:
        self._check_fitted()
        codes = check_codes(X)
        if codes.shape[1] != self.n_features_in_:
            raise ProjectionError(
                f"the {self.method} map was fitted on {self.n_features_in_}-dimensional codes but "
                f"got {codes.shape[1]}-dimensional ones; were they made by another model?")
        return codes


def require(ok: bool, message: str) -> None:
    """Raise ProjectionError(message) unless ``ok``: one-line parameter checks."""
    if not ok:
        raise ProjectionError(message)


def dedupe(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(distinct rows in first-seen order, inverse index or None if all rows are distinct).

    UMAP and t-SNE degrade on exact duplicates (zero kNN distances); fitting on
    distinct rows and giving duplicates their twin's position is exact.
    """
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    if len(first) == len(codes):
        return codes, None
    order = np.argsort(first)                    # unique rows in first-seen order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return codes[first[order]], rank[inverse.reshape(-1)]
