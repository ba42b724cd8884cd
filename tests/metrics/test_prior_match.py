"""Prior match: alike sets score ~0 MMD and ~0.5 1-NN accuracy; different sets do not."""
import numpy as np
import pytest

from conftest import tiny_checkpoint
from aeviz.core.errors import ConfigError
from aeviz.metrics.prior_match import aggregate_codes, mmd2, prior_match, two_sample_accuracy
from aeviz.models.checkpoint import load_checkpoint


def test_alike_samples_are_not_told_apart_and_shifted_ones_are():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((400, 2)), rng.standard_normal((400, 2))
    shifted = b + np.array([2.0, 0])
    assert abs(mmd2(a, b)) < 0.01 < mmd2(a, shifted)
    assert abs(two_sample_accuracy(a, b) - 0.5) < 0.08
    assert two_sample_accuracy(a, shifted) > 0.7


def test_mmd_needs_two_matching_sets():
    with pytest.raises(ConfigError, match="two sets of at least 2 points of one width"):
        mmd2(np.zeros((5, 2)), np.zeros((5, 3)))


def test_a_vae_is_scored_on_posterior_draws_not_means(tmp_path, tiny_images):
    model = load_checkpoint(tiny_checkpoint(tmp_path / "v", "vae", 2)).model
    draws = aggregate_codes(model, tiny_images, seed=0)
    means = model.encode_numpy(tiny_images)
    assert draws.shape == means.shape and not np.allclose(draws, means)
    np.testing.assert_array_equal(draws, aggregate_codes(model, tiny_images, seed=0))
    assert set(prior_match(model, tiny_images)) == {"prior_mmd", "prior_1nn_acc"}


def test_a_plain_ae_has_no_prior_unless_one_is_given(tmp_path, tiny_images):
    from aeviz.models.priors import get_prior
    model = load_checkpoint(tiny_checkpoint(tmp_path / "a", "ae", 2)).model
    with pytest.raises(ConfigError, match="has no prior to match"):
        prior_match(model, tiny_images)
    assert prior_match(model, tiny_images, get_prior("ring", 2))["prior_1nn_acc"] > 0.5
