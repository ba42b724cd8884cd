import numpy as np
import pytest
import torch

from aeviz.core.errors import ProjectionError
from aeviz.latent.trust import DataDistance
from aeviz.maps.inverse import INVERSES, KNNBlend, inverse_with_trust, make_inverse
from aeviz.maps.projections import make_projection


def smooth_pairs(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Map points (n, 2) and 3-D codes that are a smooth function of them."""
    xy = np.random.default_rng(seed).uniform(-2, 2, (n, 2)).astype(np.float32)
    codes = np.stack([np.sin(xy[:, 0]), np.cos(xy[:, 1]), xy[:, 0] * xy[:, 1] / 4], axis=1)
    return xy, codes.astype(np.float32)


def test_knn_blend_is_exact_at_training_points_and_between_them():
    xy, codes = smooth_pairs()
    blend = KNNBlend(k=8).fit(xy, codes)
    np.testing.assert_array_equal(blend.predict(xy[:20]), codes[:20])
    two = KNNBlend(k=2).fit(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0], [10.0]]))
    np.testing.assert_allclose(two.predict(np.array([[1.0, 0.0], [0.5, 0.0]])), [[5.0], [1.0]],
                               rtol=1e-5)               # inverse squared distance weights


def test_knn_blend_with_fewer_points_than_k_and_in_many_dims():
    blend = KNNBlend(k=8).fit(np.eye(5, dtype=np.float32), np.arange(5.0)[:, None])
    assert blend.predict(np.eye(5)[:1]).tolist() == [[0.0]]          # brute-force path (5-D)


@pytest.fixture
def one_thread():
    """Tiny MLPs gain nothing from threads and lose a lot on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind", sorted(INVERSES))
def test_every_inverse_generalises_to_held_out_points(kind, one_thread):
    xy, codes = smooth_pairs(500)
    params = {"steps": 300, "hidden": 64} if kind == "mlp" else {}      # seconds, not minutes
    est = make_inverse(kind, **params).fit(xy[:400], codes[:400])
    err = ((est.predict(xy[400:]) - codes[400:]) ** 2).mean() / codes.var(0).sum()
    assert err < 0.02, kind


def test_mlp_inverse_is_seeded(one_thread):
    xy, codes = smooth_pairs(200)
    a = make_inverse("mlp", steps=20, hidden=16, seed=1).fit(xy, codes).predict(xy[:5])
    b = make_inverse("mlp", steps=20, hidden=16, seed=1).fit(xy, codes).predict(xy[:5])
    c = make_inverse("mlp", steps=20, hidden=16, seed=2).fit(xy, codes).predict(xy[:5])
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unknown_inverse_lists_the_choices():
    with pytest.raises(ProjectionError, match="knn, mlp, rbf"):
        make_inverse("spline")


def test_trust_scores_flag_empty_map_space():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 5)).astype(np.float32)
    pca = make_projection("pca").fit(codes)
    inside = pca.embedding_[:10] * 0.99
    outside = pca.embedding_.max(0)[None] * 20
    z, trust = inverse_with_trust(pca, np.concatenate([inside, outside]))
    assert z.shape == (11, 5) and all(v.shape == (11,) for v in trust.values())
    assert trust["roundtrip_error"].max() < 1e-3                     # PCA's inverse is exact
    assert trust["nearest_distance_norm"][-1] > 20 * trust["nearest_distance_norm"][:10].max()
    assert trust["nearest_distance_norm"][-1] == pytest.approx(
        trust["nearest_distance"][-1] / DataDistance().fit(pca.embedding_).spacing_, rel=1e-5)
