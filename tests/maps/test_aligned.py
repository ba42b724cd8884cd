"""Aligned timeline frames: points move less between frames than with a PCA per frame."""
import numpy as np
import pytest

from aeviz.core.errors import ProjectionError
from aeviz.maps.aligned import aligned_frames, independent_frames, median_displacement, procrustes
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.training import timeline as tl
from aeviz.training.loop import seeded_model, train


def test_procrustes_undoes_a_rotation_and_a_reflection():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((50, 2))
    y -= y.mean(0)
    turn = np.array([[0.0, -1.0], [-1.0, 0.0]])                  # a reflection across y = -x
    np.testing.assert_allclose(procrustes(y @ turn, y), y, atol=1e-10)


def test_two_dimensional_codes_are_their_own_frames():
    codes = np.random.default_rng(0).standard_normal((3, 10, 2))
    frames, how = aligned_frames(codes)
    assert how == "latent" and np.array_equal(frames, codes)


def test_aligned_frames_of_a_real_run_move_less_than_unaligned_ones(digits):
    cfg = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(32,), latent_dim=8)
    model = seeded_model(cfg, 0)
    rec = tl.Recorder(model, digits.x_test, 40, points=300)
    train(cfg, TrainConfig(epochs=40, batch_size=64, seed=0), digits.x_train, model=model, on_epoch=rec.on_epoch)
    codes = rec.timeline().codes
    aligned, how = aligned_frames(codes)
    assert how == "aligned PCA" and aligned.shape == (len(codes), 300, 2)
    moved, jumped = median_displacement(aligned), median_displacement(independent_frames(codes))
    assert np.median(moved) < np.median(jumped) and moved.max() <= jumped.max() + 1e-9, (moved, jumped)


def test_bad_codes_are_refused():
    with pytest.raises(ProjectionError, match="must be finite"):
        aligned_frames(np.full((2, 5, 3), np.nan))
