"""Priors: seeded draws on the right set, projections, and geodesics that are the shortest paths."""
import math

import numpy as np
import pytest
import torch

from aeviz.core.errors import ConfigError
from aeviz.models.priors import PRIORS, Mixture, get_prior, hyperbolic_distance


@pytest.mark.parametrize("name", list(PRIORS))
def test_draws_are_seeded_and_shaped(name):
    prior = get_prior(name, 3)
    a, b = prior.sample_numpy(50, seed=4), prior.sample_numpy(50, seed=4)
    assert a.shape == (50, 3) and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, prior.sample_numpy(50, seed=5))
    z = torch.as_tensor(a)
    assert torch.allclose(prior.project(z), z, atol=1e-6)     # draws already lie on the prior's set


@pytest.mark.parametrize("name", list(PRIORS))
def test_geodesics_start_and_end_at_the_endpoints(name):
    prior = get_prior(name, 3)
    a, b = prior.sample_numpy(2, seed=1).astype(np.float64)
    path = prior.geodesic(a, b, np.linspace(0, 1, 9))
    assert path.shape == (9, 3)
    np.testing.assert_allclose(path[0], a, atol=1e-9)
    np.testing.assert_allclose(path[-1], b, atol=1e-9)


def test_the_mixture_places_a_labelled_draw_on_its_component():
    prior = Mixture(2, 10)
    z = prior.sample(1000, torch.Generator().manual_seed(0), labels=torch.full((1000,), 3)).numpy()
    angle = np.arctan2(z[:, 1], z[:, 0])
    assert abs(np.median(angle) - 3 * 2 * math.pi / 10) < 0.05
    assert abs(np.median(np.linalg.norm(z, axis=1)) - Mixture.RADIUS) < 0.1


def test_the_ring_is_an_annulus_and_the_sphere_a_sphere():
    ring = get_prior("ring", 2).sample_numpy(2000)
    r = np.linalg.norm(ring, axis=1)
    assert r.min() >= 2 - 1e-6 and r.max() <= 3 + 1e-6
    sphere = get_prior("sphere", 4).sample_numpy(500)
    np.testing.assert_allclose(np.linalg.norm(sphere, axis=1), 1, atol=1e-6)
    assert np.abs(sphere.mean(0)).max() < 0.1                     # uniform: no preferred direction


def test_the_sphere_geodesic_is_a_great_circle_at_constant_speed():
    s = get_prior("sphere", 3)
    a, b = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    path = s.geodesic(a, b, np.linspace(0, 1, 11))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1, atol=1e-12)
    steps = np.arccos(np.clip((path[:-1] * path[1:]).sum(1), -1, 1))
    np.testing.assert_allclose(steps, math.pi / 2 / 10, atol=1e-9)


def test_the_hyperbolic_geodesic_is_the_shortest_path_on_the_hyperboloid():
    h = get_prior("hyperboloid", 2)
    a, b = np.array([2.0, -1.0]), np.array([-1.5, 3.0])
    path = h.geodesic(a, b, np.linspace(0, 1, 21))
    steps = [hyperbolic_distance(p, q) for p, q in zip(path[:-1], path[1:])]
    np.testing.assert_allclose(sum(steps), hyperbolic_distance(a, b), rtol=1e-9)    # no detour
    np.testing.assert_allclose(steps, steps[0], rtol=1e-6)                           # constant speed
    straight = np.linspace(a, b, 21)                                                  # the chart's line is longer
    assert sum(hyperbolic_distance(p, q) for p, q in zip(straight[:-1], straight[1:])) > sum(steps) * 1.01


def test_bad_names_and_sizes_are_refused():
    with pytest.raises(ConfigError, match="unknown prior 'x'"):
        get_prior("x", 2)
    with pytest.raises(ConfigError, match="sphere prior needs a latent size of at least 2"):
        get_prior("sphere", 1)
    with pytest.raises(ConfigError, match="prior_components must be in 1..64"):
        get_prior("mixture", 2, 0)
