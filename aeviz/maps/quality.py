"""How faithful a map (or any embedding) is: trustworthiness and kNN accuracy.

General over dimensions, so the metrics module scores raw latent codes with
the same functions it uses for 2-D maps.
"""
from __future__ import annotations

import numpy as np
from sklearn.manifold import trustworthiness as _sk_trustworthiness
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from aeviz.core.errors import ProjectionError


def _points(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or len(a) == 0:
        raise ProjectionError(f"{what} must be a non-empty 2-D array (points, dims), "
                              f"got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ProjectionError(f"{what} contain NaN or inf; cannot score them")
    return a


def _labels(y, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ProjectionError(f"{what} must have shape ({n},) to match the points, got {y.shape}")
    return y


def trustworthiness(X, Y, n_neighbors: int = 10, max_points: int = 5000, seed: int = 0) -> float:
    """sklearn's trustworthiness of embedding Y (N, d) of X (N, D), in [0, 1].

    It is O(N^2) in time and memory, so above ``max_points`` it is computed on
    a uniform random subsample of ``max_points`` points drawn with ``seed``
    (the same points in X and Y): an estimate, stable to ~0.002 at 5000.
    """
    X, Y = _points(X, "X"), _points(Y, "Y")
    if len(X) != len(Y):
        raise ProjectionError(f"X has {len(X)} points but Y has {len(Y)}; they must match")
    if len(X) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), max_points, replace=False))
        X, Y = X[idx], Y[idx]
    # sklearn requires n_neighbors < n_samples / 2
    k = min(int(n_neighbors), (len(X) - 1) // 2)
    if k < 1:
        raise ProjectionError(f"trustworthiness needs at least 3 points, got {len(X)}")
    return float(_sk_trustworthiness(X.astype(np.float64), Y.astype(np.float64), n_neighbors=k))


def knn_accuracy(train_points, train_labels, test_points, test_labels, k: int = 1) -> float:
    """Accuracy of a k-nearest-neighbour classifier fitted on train, scored on test."""
    train_points = _points(train_points, "train points")
    test_points = _points(test_points, "test points")
    if train_points.shape[1] != test_points.shape[1]:
        raise ProjectionError(f"train points have {train_points.shape[1]} dims but test points "
                              f"{test_points.shape[1]}")
    train_labels = _labels(train_labels, len(train_points), "train labels")
    test_labels = _labels(test_labels, len(test_points), "test labels")
    clf = KNeighborsClassifier(n_neighbors=min(int(k), len(train_points)))
    clf.fit(train_points, train_labels)
    return float((clf.predict(test_points) == test_labels).mean())


def knn_accuracy_cv(points, labels, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated kNN accuracy on one set of points (e.g. one map): mean over folds.

    Stratified folds when every class has at least ``folds`` members, plain
    shuffled folds otherwise; fewer folds when there are fewer points.
    """
    points = _points(points, "points")
    labels = _labels(labels, len(points), "labels")
    folds = min(int(folds), len(points))
    if folds < 2:
        raise ProjectionError(f"cross-validation needs at least 2 points, got {len(points)}")
    _, counts = np.unique(labels, return_counts=True)
    splitter = (StratifiedKFold if counts.min() >= folds else KFold)(
        n_splits=folds, shuffle=True, random_state=seed)
    scores = [knn_accuracy(points[tr], labels[tr], points[te], labels[te], k=k)
              for tr, te in splitter.split(points, labels)]
    return float(np.mean(scores))
