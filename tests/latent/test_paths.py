import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aeviz.core.errors import ConfigError
from aeviz.latent.paths import class_mean, interpolate, lerp, random_member, slerp


def _unit(v):
    return v / np.linalg.norm(v)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(2, 32), radius=st.floats(0.1, 10))
def test_slerp_keeps_norm_for_equal_norm_endpoints(seed, dim, radius):
    rng = np.random.default_rng(seed)
    a, b = radius * _unit(rng.normal(size=dim)), radius * _unit(rng.normal(size=dim))
    pts = slerp(a, b, np.linspace(0, 1, 11))
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), radius, rtol=1e-9)


def test_slerp_norm_stays_between_endpoint_norms():
    rng = np.random.default_rng(1)
    a, b = 2 * _unit(rng.normal(size=5)), 5 * _unit(rng.normal(size=5))
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 21)), axis=1)
    assert norms.min() >= 2 - 1e-9 and norms.max() <= 5 + 1e-9
    # and the midpoint of a linear path is shorter: slerp really differs from lerp
    assert np.linalg.norm(lerp(a, b, np.array([0.5]))[0]) < norms[10]


def test_slerp_falls_back_to_lerp_for_parallel_and_zero():
    a = np.array([1.0, 0.0])
    for b in (np.array([3.0, 0.0]), np.zeros(2)):
        np.testing.assert_allclose(slerp(a, b, np.array([0.5])), lerp(a, b, np.array([0.5])))


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_endpoints_exact_and_waypoints_pass_through(method):
    w = np.random.default_rng(2).normal(size=(4, 6))
    path = interpolate(w, steps=5, method=method)
    assert path.points.shape == (3 * 5 + 1, 6)
    np.testing.assert_array_equal(path.points[path.waypoint_steps], w)
    np.testing.assert_array_equal(path.points[0], w[0])
    np.testing.assert_array_equal(path.points[-1], w[-1])
    assert list(path.segment[:6]) == [0, 0, 0, 0, 0, 1]
    assert path.t[0] == 0 and path.t[-1] == 1


def test_linear_path_is_evenly_spaced():
    path = interpolate(np.array([[0.0, 0.0], [4.0, 0.0]]), steps=4)
    np.testing.assert_allclose(path.points[:, 0], [0, 1, 2, 3, 4])


@pytest.mark.parametrize("bad, kwargs, match", [
    (np.zeros((1, 3)), {}, "at least a start"),
    (np.zeros((2, 3)), {"steps": 0}, "steps"),
    (np.zeros((2, 3)), {"method": "cubic"}, "unknown interpolation"),
    (np.array([[0.0, np.nan], [1, 1]]), {}, "NaN"),
])
def test_bad_input_is_refused(bad, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        interpolate(bad, **{"steps": 3, **kwargs})


def test_class_endpoints():
    codes = np.array([[0.0, 0], [2, 0], [10, 10], [12, 10]])
    labels = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(class_mean(codes, labels, 1), [11, 10])
    picks = {random_member(labels, 1, seed) for seed in range(20)}
    assert picks == {2, 3}
    assert random_member(labels, 0, 5) == random_member(labels, 0, 5)
    with pytest.raises(ConfigError, match="no points"):
        class_mean(codes, labels, 7)
