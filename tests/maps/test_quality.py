import numpy as np
import pytest

from aeviz.core.errors import ProjectionError
from aeviz.maps.quality import knn_accuracy, knn_accuracy_cv, trustworthiness


def blobs(n_per: int = 50, dims: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (3, dims))
    x = np.concatenate([rng.normal(c, 1.0, (n_per, dims)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


def test_trustworthiness_rewards_faithful_maps():
    x, _ = blobs()
    assert trustworthiness(x, x) == pytest.approx(1.0)
    shuffled = np.random.default_rng(1).permutation(x)
    assert trustworthiness(x, x[:, :2]) > trustworthiness(x, shuffled[:, :2]) + 0.2


def test_trustworthiness_subsamples_big_inputs_with_a_seed():
    x, _ = blobs(n_per=200)
    noisy = x[:, :2] + np.random.default_rng(0).normal(0, 3, (600, 2))
    a = trustworthiness(x, noisy, max_points=150, seed=0)
    assert a == trustworthiness(x, noisy, max_points=150, seed=0)
    assert a != trustworthiness(x, noisy, max_points=150, seed=1)
    assert abs(a - trustworthiness(x, noisy)) < 0.1


def test_trustworthiness_refuses_mismatched_or_tiny_inputs():
    x, _ = blobs()
    with pytest.raises(ProjectionError, match="match"):
        trustworthiness(x, x[:10])
    with pytest.raises(ProjectionError, match="3 points"):
        trustworthiness(x[:2], x[:2])
    with pytest.raises(ProjectionError, match="NaN"):
        trustworthiness(np.full((5, 2), np.nan), np.zeros((5, 2)))


def test_knn_accuracy_on_separable_and_on_shuffled_labels():
    x, y = blobs()
    assert knn_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0
    wrong = np.random.default_rng(0).permutation(y)
    assert knn_accuracy(x[::2], wrong[::2], x[1::2], wrong[1::2], k=5) < 0.7
    with pytest.raises(ProjectionError, match="dims"):
        knn_accuracy(x, y, x[:, :2], y)
    with pytest.raises(ProjectionError, match="shape"):
        knn_accuracy(x, y[:3], x, y)


def test_knn_accuracy_cv_is_seeded_and_copes_with_rare_classes():
    x, y = blobs()
    assert knn_accuracy_cv(x, y) == 1.0
    noisy = x + np.random.default_rng(0).normal(0, 8, x.shape).astype(np.float32)
    assert knn_accuracy_cv(noisy, y, seed=3) == knn_accuracy_cv(noisy, y, seed=3)
    rare = y.copy()
    rare[0] = 7                                      # one-member class: plain K-fold
    assert 0.9 < knn_accuracy_cv(x, rare, k=1) <= 1.0
    assert knn_accuracy_cv(x[:3], y[:3], folds=5) >= 0.0    # fewer points than folds
