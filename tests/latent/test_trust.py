import numpy as np
import pytest

from aeviz.core.errors import ConfigError
from aeviz.latent.trust import FAR, NEAR, DataDistance, neighbours, trust_label, trust_level


@pytest.fixture
def blobs() -> np.ndarray:
    """300 seeded 5-D points in three clusters."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(3, 5))
    return (centres[rng.integers(0, 3, 300)] + rng.normal(size=(300, 5))).astype(np.float32)


def test_ratio_is_relative_to_spacing_on_a_grid():
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), -1).reshape(-1, 2)
    trust = DataDistance().fit(grid)
    assert trust.spacing_ == pytest.approx(1.0)
    ratios = trust.ratio(np.array([[3.0, 3.0], [3.5, 3.0], [30.0, 3.0]]))
    np.testing.assert_allclose(ratios, [0.0, 0.5, 21.0], atol=1e-6)
    assert [trust_label(r) for r in ratios] == ["on the data", "on the data", "far from any real code"]
    with pytest.raises(ConfigError, match="dimensions"):
        trust.ratio(np.zeros((1, 3)))


def test_points_on_the_data_score_zero_and_far_points_score_far(blobs):
    trust = DataDistance().fit(blobs)
    assert np.all(trust.ratio(blobs) == 0.0)
    far = trust.ratio(blobs.max(0, keepdims=True) + 50.0)
    assert far[0] > FAR and trust_level(far[0]) == "far"


def test_ratio_is_scale_equivariant(blobs):
    rng = np.random.default_rng(1)
    queries = blobs[:20] + rng.normal(scale=0.5, size=(20, 5))
    small = DataDistance().fit(blobs)
    large = DataDistance().fit(blobs * 10)
    assert large.spacing_ == pytest.approx(10 * small.spacing_, rel=1e-5)
    np.testing.assert_allclose(large.ratio(queries * 10), small.ratio(queries), rtol=1e-5)


def test_spacing_ignores_duplicates_and_its_subsample_is_seeded(blobs):
    full = DataDistance().fit(blobs).spacing_
    assert DataDistance().fit(np.concatenate([blobs, blobs])).spacing_ == pytest.approx(full)
    a = DataDistance(max_spacing_points=100, random_state=3).fit(blobs).spacing_
    b = DataDistance(max_spacing_points=100, random_state=3).fit(blobs).spacing_
    c = DataDistance(max_spacing_points=100, random_state=4).fit(blobs).spacing_
    assert a == b and a != c
    assert a == pytest.approx(full, rel=0.25)          # a subsample estimates the same median


def test_nearest_matches_brute_force(blobs):
    rng = np.random.default_rng(2)
    queries = rng.normal(scale=5.0, size=(40, 5))
    idx, dist = DataDistance().fit(blobs).nearest(queries)
    brute = np.linalg.norm(queries[:, None] - blobs[None].astype(np.float64), axis=2)   # (40, 300)
    np.testing.assert_array_equal(idx, brute.argmin(1))
    np.testing.assert_allclose(dist, brute.min(1), rtol=1e-6)


def test_neighbours_exclude_the_point_itself(blobs):
    nn = neighbours(blobs, 7, 5)
    d = np.linalg.norm(blobs.astype(np.float64) - blobs[7], axis=1)
    d[7] = np.inf
    np.testing.assert_array_equal(nn, np.argsort(d)[:5])
    assert 7 not in neighbours(blobs, 7, 299)
    assert len(neighbours(blobs[:4], 0, 10)) == 3                  # at most N - 1
    twins = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0]])
    assert neighbours(twins, 1, 2).tolist() == [0, 2]              # a duplicate is a neighbour
    with pytest.raises(ConfigError, match="index"):
        neighbours(blobs, 300)


@pytest.mark.parametrize("ratio, level", [(0.0, "near"), (NEAR, "near"), (NEAR + 0.01, "between"),
                                          (FAR, "between"), (FAR + 0.01, "far"), (np.nan, "far")])
def test_thresholds_classify(ratio, level):
    assert trust_level(ratio) == level
    assert trust_label(ratio) == {"near": "on the data", "between": "near the data",
                                  "far": "far from any real code"}[level]


@pytest.mark.parametrize("points, message", [
    (np.array([[0.0, 1.0], [np.nan, 2.0]]), "NaN"),
    (np.arange(5.0), "shape"),
    (np.zeros((2, 2, 2)), "shape"),
    (np.zeros((1, 3)), "at least 2"),
    (np.ones((4, 3)), "identical"),
])
def test_fit_refuses_bad_reference_points(points, message):
    with pytest.raises(ConfigError, match=message):
        DataDistance().fit(points)


def test_fit_refuses_bad_parameters_and_unfitted_use(blobs):
    with pytest.raises(ConfigError, match="max_spacing_points"):
        DataDistance(max_spacing_points=0).fit(blobs)
    with pytest.raises(ConfigError, match="not fitted"):
        DataDistance().ratio(blobs)
    with pytest.raises(ConfigError, match="NaN"):
        DataDistance().fit(blobs).ratio(np.full((1, 5), np.inf))
