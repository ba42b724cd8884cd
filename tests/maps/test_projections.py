"""Projection estimators: one module-scoped fit per method (the first UMAP fit JIT-compiles)."""
import os
import tempfile

import numpy as np
import pytest
from sklearn.base import clone

from aeviz.core.errors import ProjectionError
from aeviz.maps.projections import (METHOD_NAMES, METHODS, FixedMap, make_projection, method_params,
                           stratified_subsample)

# a numba cache that outlives the per-session AEVIZ_CACHE_DIR: a cold one costs minutes
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "aeviz-numba-cache"))

FAST = {"latent": {}, "pca": {}, "umap": {"n_epochs": 60},
        "tsne": {"n_iter": 100, "early_exaggeration_iter": 50, "perplexity": 20}}


def clusters(n_per: int = 75, dims: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 well separated Gaussian blobs: (4 n_per, dims) float32 codes and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (4, dims))
    x = np.concatenate([rng.normal(c, 1.0, (n_per, dims)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(4), n_per)


def codes_for(method: str) -> np.ndarray:
    x, _ = clusters()
    return x[:, :2].copy() if method == "latent" else x


@pytest.fixture(scope="module")
def fitted() -> dict:
    """Every method fitted once on 300 points (shared: umap's first fit costs seconds)."""
    return {m: make_projection(m, random_state=0, **FAST[m]).fit(codes_for(m)) for m in METHODS}


def spacing(emb: np.ndarray) -> float:
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(1)))


@pytest.mark.parametrize("method", sorted(FAST))
def test_fit_shapes_and_attributes(fitted, method):
    est = fitted[method]
    assert est.embedding_.shape == (300, 2) and est.embedding_.dtype == np.float32
    assert np.isfinite(est.embedding_).all() and est.fit_seconds_ >= 0
    assert np.array_equal(est.codes_, codes_for(method))
    assert np.array_equal(est.fit_transform(codes_for(method)), est.embedding_)
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("method", sorted(FAST))
def test_same_seed_same_map(fitted, method):
    again = make_projection(method, random_state=0, **FAST[method]).fit(codes_for(method))
    assert np.array_equal(again.embedding_, fitted[method].embedding_)


def test_seed_changes_the_umap():
    x = codes_for("umap")
    a = make_projection("umap", random_state=1, **FAST["umap"]).fit(x).embedding_
    b = make_projection("umap", random_state=2, **FAST["umap"]).fit(x).embedding_
    assert not np.allclose(a, b)


@pytest.mark.parametrize("method", sorted(FAST))
def test_training_points_transform_onto_their_positions(fitted, method):
    est = fitted[method]
    x = codes_for(method)
    np.testing.assert_allclose(est.transform(x[:50]), est.embedding_[:50], atol=1e-4)
    nudged = x[:50] + np.random.default_rng(1).normal(0, 0.01, x[:50].shape).astype(np.float32)
    moved = np.linalg.norm(est.transform(nudged) - est.embedding_[:50], axis=1)
    diameter = np.linalg.norm(np.ptp(est.embedding_, axis=0))
    assert np.median(moved) < 0.05 * diameter          # umap/t-SNE re-place by optimisation


def test_maps_keep_clusters_apart(fitted):
    _, y = clusters()
    for method in ("pca", "umap", "tsne"):
        emb = fitted[method].embedding_
        centres = np.stack([emb[y == c].mean(0) for c in range(4)])
        within = np.mean([np.linalg.norm(emb[y == c] - centres[c], axis=1).mean() for c in range(4)])
        between = min(np.linalg.norm(centres[i] - centres[j]) for i in range(4) for j in range(i))
        assert between > 2 * within, method


EXACT = [m for m in METHODS if METHODS[m].exact]


def test_every_method_is_offered_exact_ones_first():
    assert sorted(METHOD_NAMES) == sorted(METHODS) and set(FAST) == set(METHODS)
    assert METHOD_NAMES[:len(EXACT)] == tuple(EXACT) and {"latent", "pca"} <= set(EXACT)
    assert all(isinstance(cls.exact, bool) and cls.method == name for name, cls in METHODS.items())


@pytest.mark.parametrize("method", EXACT)
def test_exact_inverse(fitted, method):
    est = fitted[method]
    y = est.embedding_[:20] + np.float32(0.3)
    np.testing.assert_allclose(est.transform(est.inverse_transform(y)), y, atol=1e-4)
    _, trust = est.inverse_with_trust(y)
    assert trust["roundtrip_error"].max() < 1e-4


@pytest.mark.parametrize("method", [m for m in METHODS if m not in EXACT])
def test_inverse_round_trip_inside_the_data(fitted, method):
    est = fitted[method]
    rng = np.random.default_rng(2)
    inside = est.embedding_[rng.choice(300, 40, replace=False)]
    inside = inside + rng.normal(0, 0.3 * spacing(est.embedding_), inside.shape).astype(np.float32)
    codes, trust = est.inverse_with_trust(inside)
    assert codes.shape == (40, 8) and set(trust) >= {"nearest_distance", "roundtrip_error",
                                                     "nearest_distance_norm", "roundtrip_error_norm"}
    diameter = np.linalg.norm(np.ptp(est.embedding_, axis=0))
    assert np.median(trust["roundtrip_error"]) < 0.05 * diameter
    far = est.embedding_.max(0) + 50 * spacing(est.embedding_)
    _, far_trust = est.inverse_with_trust(far[None])
    assert far_trust["nearest_distance_norm"][0] > 10 * np.median(trust["nearest_distance_norm"])
    assert far_trust["roundtrip_error_norm"][0] > 3 * np.median(trust["roundtrip_error_norm"])


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_duplicates_share_a_position(method):
    x, _ = clusters(n_per=40)
    x = np.concatenate([x, x[:60]])                         # 60 exact duplicates
    emb = make_projection(method, **FAST[method]).fit(x).embedding_
    np.testing.assert_array_equal(emb[160:], emb[:60])


def test_latent_refuses_codes_that_are_not_2d():
    with pytest.raises(ProjectionError, match="pca"):
        make_projection("latent").fit(clusters()[0])


def test_fixed_map_places_training_codes_exactly(fitted):
    est = fitted["umap"]
    fixed = FixedMap(embedding=est.embedding_).fit(est.codes_)
    np.testing.assert_array_equal(fixed.transform(est.codes_[:10]), est.embedding_[:10])
    exact = FixedMap(embedding=est.embedding_, inverse="knn").fit(est.codes_)
    back = exact.transform(exact.inverse_transform(est.embedding_[:10]))
    np.testing.assert_allclose(back, est.embedding_[:10], atol=1e-4)     # kNN both ways: exact
    back = fixed.transform(fixed.inverse_transform(est.embedding_[:10]))  # default (RBF) inverse
    assert np.median(np.linalg.norm(back - est.embedding_[:10], axis=1)) < 2 * spacing(est.embedding_)


BAD_FITS = [
    ("umap", {}, np.full((50, 4), np.nan, np.float32), "NaN"),
    ("pca", {}, np.array([[1.0, np.inf], [0.0, 1.0], [2.0, 3.0]]), "NaN or inf"),
    ("umap", {}, np.arange(50.0), "reshape"),
    ("umap", {"n_neighbors": 15}, np.random.default_rng(0).random((10, 4)), "n_neighbors"),
    ("tsne", {"perplexity": 30}, np.random.default_rng(0).random((40, 4)), "perplexity"),
    ("umap", {}, np.ones((100, 4)), "identical"),
    ("pca", {}, np.ones((100, 4)), "identical"),
    ("umap", {"n_neighbors": 1}, np.random.default_rng(0).random((40, 4)), "n_neighbors"),
    ("umap", {"min_dist": -1}, np.random.default_rng(0).random((40, 4)), "min_dist"),
    ("umap", {"metric": "hamming"}, np.random.default_rng(0).random((40, 4)), "metric"),
    ("tsne", {"n_iter": -5}, np.random.default_rng(0).random((40, 4)), "n_iter"),
    ("pca", {}, np.random.default_rng(0).random((40, 1)), "umap"),
    ("pca", {}, np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ("pca", {}, np.zeros((0, 3)), "empty"),
]


@pytest.mark.parametrize("method,params,x,needle", BAD_FITS)
def test_bad_input_is_a_clear_projection_error(method, params, x, needle):
    with pytest.raises(ProjectionError, match=needle):
        make_projection(method, **params).fit(x)


def test_umap_copes_with_few_distinct_points():
    # 200 points but only 12 distinct: dedupe leaves too few for n_neighbors=15
    x = np.repeat(np.random.default_rng(0).random((12, 4)), 17, axis=0)[:200]
    with pytest.raises(ProjectionError, match="distinct"):
        make_projection("umap").fit(x)


@pytest.mark.parametrize("method", sorted(FAST))
def test_wrong_dimension_at_transform_and_inverse(fitted, method):
    with pytest.raises(ProjectionError, match="dimensional"):
        fitted[method].transform(np.zeros((3, 5), np.float32))
    with pytest.raises(ProjectionError, match=r"\(M, 2\)"):
        fitted[method].inverse_transform(np.zeros((3, 3), np.float32))


def test_unfitted_transform_is_refused():
    with pytest.raises(ProjectionError, match="not fitted"):
        make_projection("pca").transform(np.zeros((2, 3)))


def test_unknown_method_and_parameter_list_the_choices():
    with pytest.raises(ProjectionError, match="latent, pca, tsne, umap"):
        make_projection("isomap")
    with pytest.raises(ProjectionError, match="n_neighbors"):
        make_projection("umap", perplexity=30)
    assert method_params("umap")["n_neighbors"] == 15


def test_stratified_subsample_keeps_shares_and_is_seeded():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_subsample(labels, 100, seed=3)
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    assert np.array_equal(idx, stratified_subsample(labels, 100, seed=3))
    assert not np.array_equal(idx, stratified_subsample(labels, 100, seed=4))
    assert np.array_equal(stratified_subsample(labels, 5000), np.arange(1000))
    rare = np.array([0] * 50 + [1])
    assert 1 in rare[stratified_subsample(rare, 5)]
    with pytest.raises(ProjectionError, match="positive"):
        stratified_subsample(labels, 0)
