"""Exact k-nearest neighbours in Euclidean space, blocked torch matmuls.

For the few thousand to ~20k latent codes aeviz maps, brute force is exact,
deterministic and faster than building an approximate index (pynndescent
also spends seconds JIT-compiling). Points are centred, ranked by
``|b|^2 - 2 a.b`` (the squared distance minus a per-row constant) in
float32 keeping k + 8 candidates, whose distances are then recomputed
directly in float64 and re-sorted (ties by index), so the cancellation
error of the matmul form cannot reorder near neighbours.

Memory is bounded: each block holds at most ``BLOCK_ELEMENTS`` distances.
"""
from __future__ import annotations

import numpy as np
import torch

BLOCK_ELEMENTS = 2 ** 21            # 2M float32 distances (8 MiB, cache-friendly) per block
_MARGIN = 8                          # extra candidates re-ranked exactly


def knn_graph(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """kNN of every row of ``x`` among the rows of ``x``, self included at column 0.

    x: (N, D). Returns (indices int64 (N, k), distances float32 (N, k)),
    ascending; column 0 is the point itself at distance 0 (umap's
    convention), columns 1.. the k-1 nearest *other* points (duplicates of a
    point count as other points at distance 0).
    """
    x = _as_2d(x)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the number of points), got {k}")
    idx, dist = _search(x, x, k - 1, exclude_self=True) if k > 1 else _empty(n)
    self_idx = np.arange(n, dtype=np.int64)[:, None]
    return (np.concatenate([self_idx, idx], axis=1),
            np.concatenate([np.zeros((n, 1), np.float32), dist], axis=1))


def knn_query(train: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """kNN of every row of ``query`` among the rows of ``train``.

    train: (N, D), query: (M, D). Returns (indices int64 (M, k), distances
    float32 (M, k)), ascending. A query equal to a training row finds it at
    distance 0.
    """
    train, query = _as_2d(train), _as_2d(query)
    if train.shape[1] != query.shape[1]:
        raise ValueError(f"query points have {query.shape[1]} dimensions, training points "
                         f"{train.shape[1]}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k must be in 1..{len(train)} (the number of training points), got {k}")
    return _search(train, query, k, exclude_self=False)


def _search(train: np.ndarray, query: np.ndarray, k: int,
            exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    n, m = len(train), len(query)
    if m == 0 or k == 0:
        return np.zeros((m, k), np.int64), np.zeros((m, k), np.float32)
    center = train.mean(0, dtype=np.float64)       # centring shrinks the matmul's rounding error
    t = torch.from_numpy(np.ascontiguousarray(train - center, dtype=np.float32))
    t_sq = (t * t).sum(1)                                        # (N,)
    kk = min(n - int(exclude_self), k + _MARGIN)                 # candidates per row
    rows = max(1, BLOCK_ELEMENTS // n)
    out_idx = np.empty((m, k), np.int64)
    out_dist = np.empty((m, k), np.float32)
    with torch.no_grad():
        for start in range(0, m, rows):
            q = torch.from_numpy(np.ascontiguousarray(query[start:start + rows] - center,
                                                      dtype=np.float32))
            # |t|^2 - 2 q.t ranks like the squared distance (|q|^2 is constant per row)
            d2 = torch.addmm(t_sq, q, t.T, alpha=-2.0)                  # (B, N)
            if exclude_self:
                ar = torch.arange(len(q))
                d2[ar, ar + start] = float("inf")
            cand = torch.topk(d2, kk, dim=1, largest=False, sorted=False).indices.numpy()
            idx, dist = _rerank(train, query[start:start + rows], cand, k)
            out_idx[start:start + len(q)] = idx
            out_dist[start:start + len(q)] = dist
    return out_idx, out_dist


def _rerank(train: np.ndarray, query: np.ndarray, cand: np.ndarray,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 distances of the candidates, sorted by (distance, index)."""
    diff = train[cand].astype(np.float64) - query[:, None, :].astype(np.float64)   # (B, kk, D)
    dist = np.sqrt((diff * diff).sum(-1))                                         # (B, kk)
    order = np.lexsort((cand, dist), axis=1)[:, :k]          # ties broken by index: deterministic
    return (np.take_along_axis(cand, order, 1).astype(np.int64),
            np.take_along_axis(dist, order, 1).astype(np.float32))


def _empty(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (points, dims), got shape {x.shape}")
    return x


class ExactKNNIndex:
    """openTSNE's KNNIndex interface (build/query, k, n_samples) over exact search.

    Duck-typed so that openTSNE need not be imported here; distances are
    float64 because openTSNE's affinity code expects doubles.
    """

    def __init__(self, data: np.ndarray, k: int):
        self.data = _as_2d(data)
        self.k = k
        self.n_samples = len(self.data)

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) neighbours of every training point, self excluded."""
        idx, dist = knn_graph(self.data, self.k + 1)
        return idx[:, 1:], dist[:, 1:].astype(np.float64)

    def query(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        idx, dist = knn_query(self.data, query, k)
        return idx, dist.astype(np.float64)
