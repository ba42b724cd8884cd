"""From map points back to latent codes, and how far to trust the answer.

UMAP and t-SNE have no exact inverse, so a method-agnostic regressor is
fitted on the (embedding, codes) pairs of the training points. Candidates:

- ``knn``: a blend of the codes of the k nearest mapped points, weighted by
  inverse squared map distance (exact at mapped points, never leaves the
  convex hull of nearby codes);
- ``mlp``: a small seeded torch MLP (2 -> 128 -> 128 -> D) trained for a fixed
  number of mini-batch Adam steps on standardised inputs/outputs;
- ``rbf``: scipy's thin-plate RBFInterpolator on the 64 nearest mapped points,
  with smoothing.

Measured held-out error (fit on 80 % of the pairs, predict the codes of the
other 20 % from their map positions; mean squared error / total code
variance, lower is better; ``python benchmarks/projection.py --inverse``
reruns it; 2 busy cores, so the MLP's seconds are inflated):

| codes (N)              | map  | knn   | mlp (fit s)   | rbf   |
|------------------------|------|-------|---------------|-------|
| digits PCA(8) (1797)   | umap | 0.113 | 0.206 (230)   | 0.101 |
| digits PCA(8) (1797)   | tsne | 0.064 | 0.192 (324)   | 0.060 |
| Gaussian mix 16-D (2k) | umap | 0.067 | 0.067 (78)    | 0.058 |
| Gaussian mix 16-D (2k) | tsne | 0.043 | 0.067 (22)    | 0.043 |
| MNIST PCA(16) (5000)   | umap | 0.293 | 0.369 (23)    | 0.281 |
| MNIST PCA(16) (5000)   | tsne | 0.156 | 0.381 (39)    | 0.152 |

``rbf`` is the default: lowest error on 5 of 6 (tied on the sixth), no fit
cost, ~0.1-0.3 ms per predicted point (``knn``: ~0.01 ms). Variants tried
(kNN k=16 or 1/d weights, RBF 32 neighbours or more smoothing) moved the
error by at most ~0.03 either way, not consistently. ``knn`` stays
available: it never leaves the range of nearby codes, where the thin-plate
RBF extrapolates linearly far outside the map (the trust scores flag those
points).

The same kNN blend, fitted the other way round (codes -> map), is the
forward map of a cached UMAP/t-SNE map whose fitted estimator is gone.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from aeviz.core.errors import ProjectionError
from aeviz.latent.knn import knn_query
from aeviz.latent.trust import DataDistance

DEFAULT_INVERSE = "rbf"                # lowest held-out error in the table above
_KD_TREE_MAX_DIMS = 3                # a k-d tree beats brute force only in very few dimensions


class KNNBlend:
    """Inverse-distance-weighted blend of the k nearest training targets.

    Fitted on (points (N, P), targets (N, Q)); ``predict`` of (M, P) -> (M, Q).
    A query equal to a training point returns its target exactly.
    """

    def __init__(self, k: int = 8, power: float = 2.0):
        self.k = k
        self.power = power

    def fit(self, points: np.ndarray, targets: np.ndarray) -> "KNNBlend":
        self.points_ = np.ascontiguousarray(points, dtype=np.float32)
        self.targets_ = np.ascontiguousarray(targets, dtype=np.float32)
        self.k_ = max(1, min(self.k, len(self.points_)))
        use_tree = self.points_.shape[1] <= _KD_TREE_MAX_DIMS
        self.tree_ = cKDTree(self.points_) if use_tree else None
        return self

    def neighbours(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (M, k), distances (M, k)) of training points nearest to ``query``."""
        k = min(k, len(self.points_))
        if self.tree_ is None:
            return knn_query(self.points_, query, k)
        dist, idx = self.tree_.query(np.asarray(query, dtype=np.float64), k=k)
        return idx.reshape(len(query), k), dist.reshape(len(query), k).astype(np.float32)

    def predict(self, query: np.ndarray) -> np.ndarray:
        idx, dist = self.neighbours(query, self.k_)                  # (M, k)
        d = dist.astype(np.float64)
        scale = np.maximum(d[:, -1:], 1e-12)                         # scale-free weights
        w = 1.0 / np.maximum(d / scale, 1e-9) ** self.power
        exact = d[:, 0] <= 1e-12 * scale[:, 0]
        w[exact] = 0.0
        w[exact, 0] = 1.0                                            # a hit returns its own target
        w /= w.sum(1, keepdims=True)
        return np.einsum("mk,mkq->mq", w, self.targets_[idx]).astype(np.float32)


class MLPInverse:
    """A small seeded MLP regressor map -> codes (torch, CPU, mini-batch Adam, seconds)."""

    def __init__(self, hidden: int = 128, steps: int = 1000, batch: int = 512, lr: float = 3e-3,
                 seed: int = 0):
        self.hidden, self.steps, self.batch, self.lr, self.seed = hidden, steps, batch, lr, seed

    def fit(self, points: np.ndarray, targets: np.ndarray) -> "MLPInverse":
        x, y = _standardise(points), _standardise(targets)
        self.x_stats_, self.y_stats_ = x[1:], y[1:]
        with torch.random.fork_rng(devices=[]):                      # seeded, global RNG untouched
            torch.manual_seed(self.seed)
            net = torch.nn.Sequential(
                torch.nn.Linear(x[0].shape[1], self.hidden), torch.nn.SiLU(),
                torch.nn.Linear(self.hidden, self.hidden), torch.nn.SiLU(),
                torch.nn.Linear(self.hidden, y[0].shape[1]))
        xt, yt = torch.from_numpy(x[0]), torch.from_numpy(y[0])
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.steps)
        for _ in range(self.steps):
            rows = torch.randint(0, len(xt), (min(self.batch, len(xt)),), generator=gen)
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(xt[rows]), yt[rows]).backward()
            opt.step()
            sched.step()
        self.net_ = net.eval()
        return self

    def predict(self, query: np.ndarray) -> np.ndarray:
        (xm, xs), (ym, ys) = self.x_stats_, self.y_stats_
        q = torch.from_numpy(((np.asarray(query, np.float64) - xm) / xs).astype(np.float32))
        with torch.no_grad():
            out = self.net_(q).numpy()
        return (out * ys + ym).astype(np.float32)


class RBFInverse:
    """scipy's local thin-plate RBF interpolation with a little smoothing."""

    def __init__(self, neighbors: int = 64, smoothing: float = 1e-3):
        self.neighbors, self.smoothing = neighbors, smoothing

    def fit(self, points: np.ndarray, targets: np.ndarray) -> "RBFInverse":
        from scipy.interpolate import RBFInterpolator
        x = _standardise(points)
        self.x_stats_ = x[1:]
        self.rbf_ = RBFInterpolator(x[0].astype(np.float64), np.asarray(targets, np.float64),
                                    neighbors=min(self.neighbors, len(points)),
                                    smoothing=self.smoothing, kernel="thin_plate_spline")
        return self

    def predict(self, query: np.ndarray) -> np.ndarray:
        xm, xs = self.x_stats_
        return self.rbf_((np.asarray(query, np.float64) - xm) / xs).astype(np.float32)


INVERSES: dict[str, type] = {"knn": KNNBlend, "mlp": MLPInverse, "rbf": RBFInverse}


def make_inverse(kind: str = DEFAULT_INVERSE, **params):
    """An unfitted map -> codes regressor from INVERSES."""
    try:
        return INVERSES[kind](**params)
    except KeyError:
        raise ProjectionError(f"unknown inverse estimator {kind!r}; "
                              f"known: {', '.join(sorted(INVERSES))}") from None


def _standardise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64)
    mean, std = a.mean(0), a.std(0)
    std = np.where(std > 0, std, 1.0)
    return ((a - mean) / std).astype(np.float32), mean, std


def _map_distance(projection) -> DataDistance:
    """DataDistance fitted on the projection's map, kept on it: clicks must not refit it."""
    emb = projection.embedding_
    cached = getattr(projection, "_data_distance", None)
    if cached is None or cached[0] is not emb:
        cached = (emb, DataDistance().fit(emb))
        projection._data_distance = cached
    return cached[1]


def inverse_with_trust(projection, points: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Codes for map ``points`` (M, 2) plus how much each can be trusted.

    ``projection`` is any fitted object with ``inverse_transform``,
    ``transform`` and ``embedding_`` (aeviz.project estimators). Trust, each
    (M,) float32:
      nearest_distance       map distance to the nearest real mapped point
      roundtrip_error        |transform(inverse(y)) - y| in map units
      *_norm                 the same divided by the map's spacing
                             (``aeviz.latent.trust.DataDistance``: scale-free;
                             ~1 is "among the data", >> 1 is empty map space)
    Cost: one inverse plus one forward transform of M points; for UMAP/t-SNE
    the transform is an optimisation against the fixed map, about
    O(M * (N + epochs * k)), done in bounded chunks.
    """
    points = np.asarray(points, dtype=np.float32)
    codes = projection.inverse_transform(points)
    back = projection.transform(codes)
    data = _map_distance(projection)
    _, nearest = data.nearest(points)
    roundtrip = np.linalg.norm(back.astype(np.float64) - points, axis=1)
    trust = {"nearest_distance": nearest, "roundtrip_error": roundtrip}
    trust.update({f"{k}_norm": v / data.spacing_ for k, v in list(trust.items())})
    return codes, {k: np.asarray(v, np.float32) for k, v in trust.items()}
