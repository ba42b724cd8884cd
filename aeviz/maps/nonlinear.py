"""UMAP (umap-learn) and t-SNE (openTSNE) maps, tuned for interactive use.

Where the time goes and what we changed (measured on 16-D PCA codes of
digits and MNIST; ``python benchmarks/projection.py`` prints the table):

- kNN graph: for N <= EXACT_KNN_MAX we compute the exact graph ourselves
  (aeviz.knn, blocked torch matmuls) and hand it to umap (``precomputed_knn``)
  and openTSNE (a duck-typed index); this skips pynndescent's index build.
- UMAP: ``init="pca"`` instead of the spectral layout (the spectral
  eigensolve costs seconds at 10k points for no trustworthiness gain on
  these codes), fewer epochs and, above 20k points, fewer negative samples
  (see umap_schedule for the measurements).
- t-SNE: openTSNE (BH below 10k points, FFT above) on our exact affinities,
  125 + 150 iterations on every core (see tsne_iterations).

Both libraries are imported lazily: ``import umap`` costs seconds and
JIT-compiles with numba, whose on-disk cache we point at
``aeviz.paths.cache_dir()/"numba"`` (when NUMBA_CACHE_DIR is unset).

Exact duplicates are fitted once and their copies share the position.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from aeviz.core.errors import ProjectionError
from aeviz.maps.inverse import DEFAULT_INVERSE, INVERSES, make_inverse
from aeviz.latent.knn import ExactKNNIndex, knn_graph, knn_query
from aeviz.core.paths import cache_dir
from aeviz.maps.base import Projection, dedupe, register, require

EXACT_KNN_MAX = 20_000       # above this umap's approximate NN-descent is faster
TRANSFORM_CHUNK = 4096       # new points placed per optimisation call (bounds memory)
UMAP_METRICS = ("euclidean", "cosine")


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def import_umap():
    """``import umap`` with numba's on-disk cache in aeviz's cache folder (seconds, once)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        folder = cache_dir() / "numba"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass                                   # not writable: numba's default place
        else:
            if os.access(folder, os.W_OK):
                os.environ["NUMBA_CACHE_DIR"] = str(folder)
                if "numba" in sys.modules:         # imported already: make it re-read the env
                    sys.modules["numba"].core.config.reload_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # tensorflow/parametric-umap notices
        import umap
    return umap


def _check_common(est: Projection) -> None:
    require(est.inverse in INVERSES,
            f"inverse must be one of {', '.join(sorted(INVERSES))}, got {est.inverse!r}")
    rs = est.random_state
    require(rs is None or (isinstance(rs, (int, np.integer)) and 0 <= rs < 2 ** 32),
            f"random_state must be an integer in [0, 2**32) or None, got {rs!r}")


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and low <= value <= high


class _NonLinear(Projection):
    """Shared by UMAP and t-SNE: duplicates, exact-hit snapping, the fitted inverse."""

    def _fit(self, codes: np.ndarray) -> np.ndarray:
        distinct, index = dedupe(codes)
        emb = self._fit_distinct(distinct)                 # (U, 2)
        emb = emb if index is None else emb[index]         # duplicates share a position
        self._inverse_est = None                           # fitted on first inverse query
        return emb

    @property
    def inverse_(self):
        """The map -> code estimator, fitted on first use: most maps are looked at
        long before anyone clicks an empty place (seconds at 70k points)."""
        if getattr(self, "_inverse_est", None) is None:
            self._inverse_est = make_inverse(self.inverse).fit(self.embedding_, self.codes_)
        return self._inverse_est

    def _transform(self, codes: np.ndarray) -> np.ndarray:
        # a code equal to a training code gets that point's position, exactly
        hit_idx, hit_dist = knn_query(self.codes_, codes, 1)
        out = self.embedding_[hit_idx[:, 0]].copy()
        new = np.flatnonzero(hit_dist[:, 0] > 0)
        for start in range(0, len(new), TRANSFORM_CHUNK):
            rows = new[start:start + TRANSFORM_CHUNK]
            out[rows] = self._place(codes[rows])
        return out

    def _inverse(self, points: np.ndarray) -> np.ndarray:
        return self.inverse_.predict(points)

    def _fit_distinct(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _place(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register("umap")
class UMAPProjection(_NonLinear):
    """umap-learn with our exact kNN graph, PCA init and fewer epochs.

    n_epochs=None and negative_sample_rate=None pick ``umap_schedule(N)``
    (umap-learn: 500 epochs up to 10k points, then 200; 5 negative samples).
    ``transform`` optimises new points against the fixed map like
    ``umap.UMAP.transform``, but with our exact kNN (umap has no search index
    when given a precomputed graph).
    """
    min_points = 3

    def __init__(self, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "euclidean",
                 n_epochs: int | None = None, negative_sample_rate: int | None = None,
                 init: str = "pca", inverse: str = DEFAULT_INVERSE, random_state: int | None = 0):
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.negative_sample_rate = negative_sample_rate
        self.init = init
        self.inverse = inverse
        self.random_state = random_state

    def _validate(self, codes: np.ndarray) -> None:
        _check_common(self)
        require(_is_int(self.n_neighbors, 2, 200),
                f"n_neighbors must be an integer in 2..200, got {self.n_neighbors!r}")
        require(isinstance(self.min_dist, (int, float)) and 0.0 <= self.min_dist <= 1.0,
                f"min_dist must be a number in [0, 1], got {self.min_dist!r}")
        require(self.metric in UMAP_METRICS,
                f"metric must be one of {', '.join(UMAP_METRICS)}, got {self.metric!r}")
        require(self.n_epochs is None or _is_int(self.n_epochs, 1, 10_000),
                f"n_epochs must be None (auto) or an integer in 1..10000, got {self.n_epochs!r}")
        require(self.negative_sample_rate is None or _is_int(self.negative_sample_rate, 1, 100),
                "negative_sample_rate must be None (auto) or an integer in 1..100, "
                f"got {self.negative_sample_rate!r}")
        require(self.init in ("pca", "spectral", "random"),
                f"init must be 'pca', 'spectral' or 'random', got {self.init!r}")
        if self.metric == "cosine":
            require(bool((np.abs(codes).max(axis=1) > 0).all()),
                    "the cosine metric is undefined for all-zero codes; use metric='euclidean'")

    def _space(self, codes: np.ndarray) -> np.ndarray:
        """Cosine neighbours are Euclidean neighbours of unit vectors."""
        if self.metric == "cosine":
            return codes / np.linalg.norm(codes, axis=1, keepdims=True)
        return codes

    def _distances(self, dist: np.ndarray) -> np.ndarray:
        # for unit vectors, cosine distance 1 - cos = |a - b|^2 / 2
        return dist ** 2 / 2 if self.metric == "cosine" else dist

    def _fit_distinct(self, codes: np.ndarray) -> np.ndarray:
        n, k = len(codes), self.n_neighbors
        require(n >= k + 1, f"UMAP with n_neighbors={k} needs at least {k + 1} distinct points, "
                            f"got {n}; lower n_neighbors (to at most {n - 1}) or map more points")
        umap = import_umap()
        space = self._space(codes)
        knn = (None, None, None)
        if n <= EXACT_KNN_MAX:
            idx, dist = knn_graph(space, k)
            knn = (idx, self._distances(dist), None)
        seeded = self.random_state is not None
        epochs, negatives = umap_schedule(n)
        self.umap_ = umap.UMAP(
            n_neighbors=k, min_dist=float(self.min_dist), metric=self.metric,
            n_epochs=self.n_epochs or epochs, negative_sample_rate=self.negative_sample_rate or negatives,
            init=self.init, random_state=self.random_state, n_jobs=1 if seeded else -1,
            precomputed_knn=knn)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # "no search index": we do transform ourselves
            emb = self.umap_.fit_transform(space)
        self.fit_space_ = space                         # (U, D) what umap saw
        return emb

    def _place(self, codes: np.ndarray) -> np.ndarray:
        from scipy.sparse import coo_matrix
        from umap.layouts import optimize_layout_euclidean
        from umap.umap_ import (compute_membership_strengths, init_graph_transform,
                                make_epochs_per_sample, smooth_knn_dist)
        model, train = self.umap_, self.fit_space_
        k = min(model._n_neighbors, len(train))
        idx, dist = knn_query(train, self._space(codes), k)
        dist = np.ascontiguousarray(self._distances(dist), dtype=np.float32)
        # the rest follows umap.UMAP.transform (umap-learn 0.5): fuzzy memberships to the
        # training points, weighted-mean start, then SGD that moves only the new points
        sigmas, rhos = smooth_knn_dist(dist, float(k), local_connectivity=max(
            0.0, model.local_connectivity - 1.0))
        rows, cols, vals, _ = compute_membership_strengths(idx.astype(np.int32), dist, sigmas,
                                                           rhos, bipartite=True)
        graph = coo_matrix((vals, (rows, cols)), shape=(len(codes), len(train)))
        csr = graph.tocsr()
        csr.eliminate_zeros()
        emb_train = np.ascontiguousarray(model.embedding_, dtype=np.float32)
        start = init_graph_transform(csr, emb_train)
        epochs = 100 if model.n_epochs is None else max(1, int(model.n_epochs) // 3)
        graph.data[graph.data < graph.data.max() / float(epochs)] = 0.0
        graph.eliminate_zeros()
        rng = np.random.RandomState(model.transform_seed)
        rng_state = rng.randint(np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max - 1,
                                3).astype(np.int64)
        return optimize_layout_euclidean(
            np.ascontiguousarray(start, dtype=np.float32), emb_train.copy(), graph.row, graph.col,
            epochs, len(train), make_epochs_per_sample(graph.data, epochs), model._a, model._b,
            rng_state, model.repulsion_strength, model._initial_alpha / 4.0,
            model.negative_sample_rate, False, verbose=False)


@register("tsne")
class TSNEProjection(_NonLinear):
    """openTSNE with our exact kNN affinities and a short optimisation.

    n_iter / early_exaggeration_iter = None pick the measured fast defaults
    (see tsne_iterations). ``negative_gradient_method="auto"`` is Barnes-Hut
    below 10k points and FFT interpolation above (openTSNE's own rule);
    ``n_jobs=None`` uses every core (openTSNE's gradients are per point, so
    the map does not depend on the thread count).
    ``transform`` is ``TSNEEmbedding.transform`` (new points move, the map
    stays) with ``transform_iter`` iterations.
    """
    min_points = 4

    def __init__(self, perplexity: float = 30.0, n_iter: int | None = None,
                 early_exaggeration_iter: int | None = None, learning_rate: float | str = "auto",
                 negative_gradient_method: str = "auto", n_jobs: int | None = None,
                 transform_iter: int = 100, inverse: str = DEFAULT_INVERSE,
                 random_state: int | None = 0):
        self.perplexity = perplexity
        self.n_iter = n_iter
        self.early_exaggeration_iter = early_exaggeration_iter
        self.learning_rate = learning_rate
        self.negative_gradient_method = negative_gradient_method
        self.n_jobs = n_jobs
        self.transform_iter = transform_iter
        self.inverse = inverse
        self.random_state = random_state

    def _validate(self, codes: np.ndarray) -> None:
        _check_common(self)
        require(isinstance(self.perplexity, (int, float)) and 1.0 <= self.perplexity <= 500.0,
                f"perplexity must be a number in [1, 500], got {self.perplexity!r}")
        for name in ("n_iter", "early_exaggeration_iter"):
            value = getattr(self, name)
            require(value is None or _is_int(value, 0, 10_000),
                    f"{name} must be None (auto) or an integer in 0..10000, got {value!r}")
        require(_is_int(self.transform_iter, 1, 10_000),
                f"transform_iter must be an integer in 1..10000, got {self.transform_iter!r}")
        lr = self.learning_rate
        require(lr == "auto" or (isinstance(lr, (int, float)) and lr > 0),
                f"learning_rate must be 'auto' or a positive number, got {lr!r}")
        require(self.negative_gradient_method in ("auto", "bh", "fft"),
                "negative_gradient_method must be 'auto', 'bh' or 'fft', "
                f"got {self.negative_gradient_method!r}")
        require(self.n_jobs is None or _is_int(self.n_jobs, 1, 1024),
                f"n_jobs must be None (all cores) or a positive integer, got {self.n_jobs!r}")

    def _fit_distinct(self, codes: np.ndarray) -> np.ndarray:
        from openTSNE import TSNE
        from openTSNE.affinity import PerplexityBasedNN
        n, perplexity = len(codes), float(self.perplexity)
        need = int(3 * perplexity) + 1
        require(n >= need, f"t-SNE with perplexity={perplexity:g} needs at least {need} distinct "
                           f"points (3 x perplexity + 1), got {n}; lower perplexity (to at most "
                           f"{max(1, (n - 1) // 3)}) or map more points")
        early, main = tsne_iterations(n)
        n_jobs = self.n_jobs or _cpu_count()
        method = self.negative_gradient_method
        method = ("bh" if n < 10_000 else "fft") if method == "auto" else method
        affinities = PerplexityBasedNN(perplexity=perplexity, knn_index=ExactKNNIndex(
            codes, min(n - 1, int(3 * perplexity))), n_jobs=n_jobs, random_state=self.random_state)
        tsne = TSNE(n_iter=main if self.n_iter is None else self.n_iter,
                    early_exaggeration_iter=(early if self.early_exaggeration_iter is None
                                             else self.early_exaggeration_iter),
                    learning_rate=self.learning_rate, negative_gradient_method=method,
                    n_jobs=n_jobs, random_state=self.random_state, initialization="pca")
        try:
            self.tsne_ = tsne.fit(codes, affinities=affinities)     # a TSNEEmbedding, kept for transform
        except (ValueError, RuntimeError) as e:       # openTSNE's own checks, reworded
            raise ProjectionError(f"t-SNE failed on these codes: {e}") from None
        return np.asarray(self.tsne_)

    def _place(self, codes: np.ndarray) -> np.ndarray:
        k = min(25, len(self.tsne_))
        return np.asarray(self.tsne_.transform(codes, k=k, n_iter=self.transform_iter))


def umap_schedule(n: int) -> tuple[int, int]:
    """(optimisation epochs, negative samples per edge) for n distinct points.

    Measured on MNIST PCA(16) codes, seeded (one thread), 2 cores, with
    trustworthiness (k=10) against umap-learn's defaults (10k: 0.9694 in
    9.4 s; 70k: 0.9628 in 38.5 s): 10k points, 200/5 0.9707 (3.9 s), 150/5
    0.9683 (2.6 s), 100/5 0.9676 (1.7 s); 70k points, 100/5 0.9630 (18 s),
    75/5 0.9612 (13.1 s), 100/3 0.9601 (11.2 s), 75/3 0.9564 (9.5 s). Small
    maps are cheap, so they keep more epochs; big ones take the cheapest
    schedule that stays within 0.01 of umap-learn's trustworthiness.
    """
    if n <= 5_000:
        return 200, 5
    if n <= EXACT_KNN_MAX:
        return 100, 5
    return 75, 3


def tsne_iterations(n: int) -> tuple[int, int]:
    """(early exaggeration, normal) iterations; openTSNE's defaults are (250, 500).

    With learning_rate="auto" (N/12) the map has converged locally well before
    openTSNE's default. Measured (trustworthiness k=10, 2 threads): digits
    200+250 0.9951 (2.8 s), 125+150 0.9947 (1.5 s); 2k MNIST PCA(16) codes
    0.9832 (2.9 s), 0.9833 (1.8 s); sklearn's TSNE: 0.9944 (5.8 s), 0.9842
    (8.5 s). 10k codes, FFT: 250+500 0.9830, 250+250 0.9828, 150+200 0.9823.
    """
    return 125, 150
