import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from aeviz.latent import knn
from aeviz.latent.knn import ExactKNNIndex, knn_graph, knn_query


@pytest.fixture
def points() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((257, 6)).astype(np.float32) * 50 + 100


def test_graph_matches_sklearn_with_self_first(points):
    idx, dist = knn_graph(points, 10)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=10).fit(points).kneighbors(points)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (257, 10)
    assert np.array_equal(idx[:, 0], np.arange(257)) and not dist[:, 0].any()
    assert np.array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)


def test_many_blocks_give_the_same_answer(points, monkeypatch):
    whole = knn_graph(points, 7)
    monkeypatch.setattr(knn, "BLOCK_ELEMENTS", 40 * len(points))     # 40 rows per block
    blocked = knn_graph(points, 7)
    assert all(np.array_equal(a, b) for a, b in zip(whole, blocked))


def test_duplicates_keep_self_first_and_are_deterministic():
    x = np.repeat(np.arange(20, dtype=np.float32)[:, None], 3, axis=0) @ np.ones((1, 4), np.float32)
    idx, dist = knn_graph(x, 4)
    assert np.array_equal(idx[:, 0], np.arange(60))
    assert not dist[:, :3].any() and (dist[:, 3] > 0).all()        # two twins at 0, then 2.0 away
    assert np.array_equal(idx, knn_graph(x, 4)[0])


def test_query_finds_exact_hits_and_true_neighbours(points):
    queries = np.concatenate([points[:5], points[5:10] + 0.5])
    idx, dist = knn_query(points, queries, 3)
    assert np.array_equal(idx[:5, 0], np.arange(5)) and not dist[:5, 0].any()
    brute = np.linalg.norm(queries[:, None].astype(np.float64) - points[None], axis=2)
    assert np.array_equal(idx, np.argsort(brute, axis=1, kind="stable")[:, :3])


def test_k_one_graph_is_just_self(points):
    idx, dist = knn_graph(points[:5], 1)
    assert idx.shape == (5, 1) and np.array_equal(idx[:, 0], np.arange(5))


@pytest.mark.parametrize("call", [
    lambda p: knn_graph(p, 0), lambda p: knn_graph(p, len(p) + 1),
    lambda p: knn_query(p, p[:, :3], 2), lambda p: knn_graph(p[0], 2)])
def test_bad_arguments_are_refused(points, call):
    with pytest.raises(ValueError):
        call(points)


def test_opentsne_index_excludes_self(points):
    index = ExactKNNIndex(points, 5)
    idx, dist = index.build()
    assert idx.shape == (257, 5) and dist.dtype == np.float64
    assert not (idx == np.arange(257)[:, None]).any()
    q_idx, _ = index.query(points[:2], 4)
    assert np.array_equal(q_idx[:, 0], [0, 1])
