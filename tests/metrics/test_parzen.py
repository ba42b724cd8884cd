"""Parzen window: the closed form on a known case, bandwidth chosen on validation, never on test."""
import math

import numpy as np
import pytest

from conftest import tiny_checkpoint
from aeviz.core.errors import ConfigError
from aeviz.metrics import parzen as pz
from aeviz.models.checkpoint import load_checkpoint


def test_one_sample_is_a_gaussian_density():
    s = np.zeros((1, 4))
    x = np.array([[0.0, 0, 0, 0], [1.0, 0, 0, 0]])
    ll = pz.log_likelihoods(s, x, (0.5,))[0]
    expected = -2 * math.log(2 * math.pi * 0.25) - np.array([0.0, 1.0]) / (2 * 0.25)
    np.testing.assert_allclose(ll, expected, rtol=1e-6)


def test_the_bandwidth_is_chosen_on_validation_and_test_is_scored_once(tmp_path, monkeypatch, digits):
    model = load_checkpoint(tiny_checkpoint(tmp_path / "v", "vae", 2)).model
    seen = []
    real = pz.log_likelihoods
    monkeypatch.setattr(pz, "log_likelihoods", lambda s, x, sig=pz.SIGMAS: seen.append((len(x), len(sig))) or real(s, x, sig))
    val = pz.validation_split(digits.x_train)
    out = pz.parzen(model, val, digits.x_test, n=500)
    assert seen == [(len(val), len(pz.SIGMAS)), (len(digits.x_test), 1)]     # many widths on val, one on test
    assert out["parzen_sigma"] in pz.SIGMAS and math.isfinite(out["parzen_ll"]) and out["parzen_se"] > 0
    assert len(val) == len(digits.x_train) // 6 and np.shares_memory(val, digits.x_train[-len(val):])


def test_samples_that_do_not_fit_the_data_are_refused():
    with pytest.raises(ConfigError, match="samples shaped like the data"):
        pz.log_likelihoods(np.zeros((3, 5)), np.zeros((2, 4)))


def test_evaluate_adds_it_on_request_for_the_test_split_only(tmp_path):
    from aeviz.metrics.evaluation import evaluate
    ckpt = load_checkpoint(tiny_checkpoint(tmp_path / "a", "ae", 2))
    out = evaluate(ckpt, "digits", quick=True, parzen=True)
    assert {"parzen_ll", "parzen_se", "parzen_sigma"} <= set(out) and out["parzen_samples"] == pz.N_SAMPLES
    assert "parzen_ll" not in evaluate(ckpt, "digits", quick=True)
    with pytest.raises(ConfigError, match="Parzen protocol scores the test split"):
        evaluate(ckpt, "digits", split="train", quick=True, parzen=True)
