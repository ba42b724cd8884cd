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


def test_a_plain_ae_is_matched_against_the_normal_its_samples_come_from(tmp_path, tiny_images):
    from aeviz.models.priors import Normal, get_prior
    model = load_checkpoint(tiny_checkpoint(tmp_path / "a", "ae", 2)).model
    assert prior_match(model, tiny_images) == prior_match(model, tiny_images, Normal(2))
    assert prior_match(model, tiny_images, get_prior("ring", 2))["prior_1nn_acc"] > 0.5


def test_codes_spread_wider_than_the_normal_are_told_apart_from_it(tmp_path, tiny_images):
    """The landing view's contrast: an AE's codes at std 4 are easy to tell from N(0, I)."""
    from aeviz.models.priors import Normal
    rng = np.random.default_rng(0)
    wide, unit = 4.0 * rng.standard_normal((500, 2)), rng.standard_normal((500, 2))
    ref = Normal(2).sample_numpy(500, 1)
    assert two_sample_accuracy(wide, ref) > 0.75 > 0.6 > two_sample_accuracy(unit, ref)
