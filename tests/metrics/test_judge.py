"""The judge classifier trains, scores, and is cached on disk as safetensors + JSON."""
import json
import os

import numpy as np
import pytest
import torch

from aeviz.metrics import judge as classifier
from aeviz.metrics.judge import Judge, JudgeNet, fingerprint, judge_paths, load_or_train_judge, train_judge
from aeviz.data.dataset import Dataset
from aeviz.core.errors import ConfigError
from aeviz.metrics.samples import fitted_codes, judge_scores
from aeviz.models.priors import Normal

STEPS = 200


def test_judge_learns_digits(digits):
    judge = train_judge(digits, steps=STEPS)
    assert judge.info["test_accuracy"] > 0.85
    p = judge.predict_proba(digits.x_test[:10])
    assert p.shape == (10, 10)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    with pytest.raises(ConfigError, match="expects samples of 64 values"):
        judge.predict_proba(np.zeros((3, 5), np.float32))


def test_judge_training_is_seeded(digits):
    a = train_judge(digits, steps=50, seed=3).predict_proba(digits.x_test[:5])
    b = train_judge(digits, steps=50, seed=3).predict_proba(digits.x_test[:5])
    np.testing.assert_array_equal(a, b)


def test_judge_is_cached_and_reused(digits, monkeypatch):
    first = load_or_train_judge(digits, steps=STEPS)
    weights, meta = judge_paths("digits")
    assert weights.is_file() and meta.is_file()
    assert json.loads(meta.read_text())["fingerprint"] == fingerprint(digits)
    monkeypatch.setattr(classifier, "train_judge", lambda *a, **k: pytest.fail("retrained"))
    again = load_or_train_judge(digits, steps=STEPS)
    np.testing.assert_array_equal(again.predict_proba(digits.x_test), first.predict_proba(digits.x_test))


def test_stale_or_corrupt_cache_is_retrained(digits):
    load_or_train_judge(digits, steps=STEPS)
    weights, meta = judge_paths("digits")
    weights.write_bytes(b"\x80\x04 not a safetensors file")
    judge = load_or_train_judge(digits, steps=STEPS)          # unreadable -> retrained, no crash
    assert judge.info["test_accuracy"] > 0.85
    # Same name, different data: the fingerprint differs, so the cached judge is not trusted.
    other = Dataset("digits", np.ascontiguousarray(digits.x_train[::-1]), digits.y_train[::-1].copy(),
                    digits.x_test, digits.y_test, digits.class_names)
    assert fingerprint(other) != fingerprint(digits)
    load_or_train_judge(other, steps=STEPS)
    assert json.loads(meta.read_text())["fingerprint"] == fingerprint(other)


def _fixed_judge(probs: list[float]) -> Judge:
    net = JudgeNet(4, len(probs), hidden=(2,))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.net[-1].bias.copy_(torch.log(torch.tensor(probs)))
    return Judge(net, {"input_size": 4, "num_classes": len(probs), "dataset": "toy"})


def test_judge_scores_by_hand():
    scores = judge_scores(_fixed_judge([0.75, 0.25]), np.zeros((7, 4), np.float32))
    assert scores["confidence"] == pytest.approx(0.75)
    assert scores["entropy"] == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert scores["confident_share"] == 0.0
    sure = judge_scores(_fixed_judge([0.95, 0.05]), np.zeros((3, 4), np.float32))
    assert sure["confident_share"] == 1.0


def test_prior_and_fitted_samplers():
    z = Normal(3).sample_numpy(500, seed=1)
    assert z.shape == (500, 3) and z.dtype == np.float32
    np.testing.assert_array_equal(z, Normal(3).sample_numpy(500, seed=1))
    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 1.5, 0.0], [1.5, 1.0, 0.0], [0.0, 0.0, 0.0]])     # one constant dim
    codes = rng.multivariate_normal([1.0, -2.0, 5.0], cov, size=5000)
    draws = fitted_codes(codes, 20_000, seed=2)
    np.testing.assert_allclose(draws.mean(0), codes.mean(0), atol=0.05)
    # Draws reproduce the codes' sample covariance (which is itself ~ cov).
    np.testing.assert_allclose(np.cov(draws, rowvar=False), np.cov(codes, rowvar=False), rtol=0.05, atol=0.02)
    with pytest.raises(ConfigError, match="at least 2"):
        fitted_codes(codes[:1])


@pytest.mark.parametrize("which", ["weights", "meta"])
def test_cached_judge_linked_out_of_the_cache_is_retrained(digits, monkeypatch, tmp_path, which):
    load_or_train_judge(digits, steps=20)
    weights, meta = judge_paths("digits")
    file = weights if which == "weights" else meta
    moved = tmp_path / file.name
    file.rename(moved)
    os.symlink(moved, file)                      # a valid judge, but not in the cache folder
    retrained = []
    real = classifier.train_judge
    monkeypatch.setattr(classifier, "train_judge", lambda *a, **k: retrained.append(1) or real(*a, **k))
    load_or_train_judge(digits, steps=20)
    assert retrained == [1] and not file.is_symlink()
    os.symlink("/proc/self/mem", moved.with_name("mem"))
    file.unlink()
    os.symlink(moved.with_name("mem"), file)
    load_or_train_judge(digits, steps=20)        # unreadable: retrained, never an OSError
    assert retrained == [1, 1]
