"""How good are the latent codes: kNN label accuracy, 2-D map quality, interpolation.

kNN accuracy follows Sainburg et al. (2021): fit on train codes, score on
test codes (``aeviz.mapquality``, shared with the map views). Interpolation measures the decoded linear path between two real
codes: how much longer it is in pixel space than the straight blend of its
decoded endpoints, and how often it leaves the region real codes occupy
(``aeviz.latent.trust``: farther than FAR typical spacings from every real code).
"""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from aeviz.core.errors import ConfigError
from aeviz.latent.trust import FAR, DataDistance
from aeviz.maps.quality import knn_accuracy, trustworthiness
from aeviz.metrics.likelihood import check_input
from aeviz.models.families import Autoencoder

TRUST_POINTS = 1000        # trustworthiness is O(n^2): scored on a seeded subset
TRUST_NEIGHBOURS = 10
REFERENCE_CODES = 5000     # real codes that define "near the data" for paths


def knn_accuracy_loo(points: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Leave-one-out kNN accuracy: each point is voted on by its k nearest *other* points."""
    pts = np.asarray(points, np.float32)
    labels = np.asarray(labels)
    if len(pts) <= k:
        raise ConfigError(f"leave-one-out kNN with k={k} needs more than {k} points, got {len(pts)}")
    idx = NearestNeighbors(n_neighbors=k + 1).fit(pts).kneighbors(pts, return_distance=False)
    # Drop each row's self match (usually column 0; duplicates can reorder it).
    others = np.array([[j for j in row if j != i][:k] for i, row in enumerate(idx)])
    votes = labels[others]                                       # (N, k)
    n_classes = int(labels.max()) + 1
    counts = np.stack([(votes == c).sum(1) for c in range(n_classes)], 1)
    return float((counts.argmax(1) == labels).mean())


def map_2d(train_codes: np.ndarray, test_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """A cheap deterministic 2-D map: the codes themselves if 2-D, else PCA fitted on train codes."""
    if train_codes.shape[1] == 2:
        return train_codes, test_codes, "latent"
    pca = PCA(n_components=2, svd_solver="full").fit(train_codes)
    return pca.transform(train_codes), pca.transform(test_codes), "pca"


def code_metrics(x_test: np.ndarray, train_codes: np.ndarray, y_train: np.ndarray,
                 test_codes: np.ndarray, y_test: np.ndarray, *, loo: bool = False,
                 seed: int = 0) -> dict[str, float | str]:
    """kNN accuracy of the codes and of a 2-D map of them, and both maps' trustworthiness.

    ``loo``: the evaluated split *is* the train split, so kNN is leave-one-out.
    """
    out: dict[str, float | str] = {}
    tr_map, te_map, method = map_2d(train_codes, test_codes)
    sets = (("", train_codes, test_codes), ("map_", tr_map, te_map))
    if len(np.unique(y_test)) < 2:                  # one class (Frey faces): kNN says nothing
        sets = ()
    for prefix, tr, te in sets:
        for k in (1, 5):
            out[f"{prefix}knn_acc_{k}"] = (knn_accuracy_loo(te, y_test, k) if loo
                                          else knn_accuracy(tr, y_train, te, y_test, k))
    out["map_method"] = method
    pixels = x_test.reshape(len(x_test), -1)
    out["code_trustworthiness"] = trustworthiness(pixels, test_codes, TRUST_NEIGHBOURS, TRUST_POINTS, seed)
    out["map_trustworthiness"] = trustworthiness(pixels, te_map, TRUST_NEIGHBOURS, TRUST_POINTS, seed)
    return out


def interpolation_smoothness(model: Autoencoder, x_a: np.ndarray, x_b: np.ndarray, steps: int = 16,
                             reference_codes: np.ndarray | None = None) -> dict[str, float]:
    """Decoded linear paths between the codes of image pairs (x_a[i], x_b[i]).

    path_ratio: pixel-space length of the decoded path (``steps`` segments)
    over the straight distance between its decoded endpoints, averaged over
    pairs (1 = the decoder blends like a cross-fade; larger = the path detours
    through other shapes). off_manifold_share (with ``reference_codes``): share
    of interior path codes that are "far" from the reference codes (see
    ``off_manifold_share``).
    """
    if steps < 2:
        raise ConfigError(f"interpolation needs at least 2 steps, got {steps}")
    x_a, x_b = check_input(model, x_a), check_input(model, x_b)
    if len(x_a) != len(x_b):
        raise ConfigError(f"need as many start as end images, got {len(x_a)} and {len(x_b)}")
    za, zb = model.encode_numpy(x_a).astype(np.float64), model.encode_numpy(x_b).astype(np.float64)
    t = np.linspace(0.0, 1.0, steps + 1)[None, :, None]                  # (1, T, 1)
    path = (1 - t) * za[:, None] + t * zb[:, None]                       # (P, T, D)
    p, n_t, d = path.shape
    images = model.decode_numpy(path.reshape(p * n_t, d).astype(np.float32))
    images = images.reshape(p, n_t, -1).astype(np.float64)               # (P, T, pixels)
    length = np.linalg.norm(np.diff(images, axis=1), axis=2).sum(1)      # (P,)
    chord = np.linalg.norm(images[:, -1] - images[:, 0], axis=1)
    ok = chord > 1e-6                                # pairs decoded to one image carry no ratio
    out = {"path_ratio": float((length[ok] / chord[ok]).mean()) if ok.any() else 1.0}
    if reference_codes is not None:
        out["off_manifold_share"] = off_manifold_share(path[:, 1:-1].reshape(-1, d), reference_codes)
    return out


def off_manifold_share(points: np.ndarray, reference_codes: np.ndarray, random_state: int = 0) -> float:
    """Share of ``points`` (M, D) whose trust ratio to ``reference_codes`` is "far" (> FAR)."""
    ratio = DataDistance(random_state=random_state).fit(reference_codes).ratio(points)
    return float((ratio > FAR).mean())
