import numpy as np
import pytest
import torch

from aeviz.training.augment import AUGMENTS, get_augment
from aeviz.models.config import AUGMENTS as AUGMENT_NAMES, ModelConfig, TrainConfig
from aeviz.core.errors import ConfigError
from aeviz.training.loop import train


def _digit_like(b=16, size=28):
    """A bright bar in the middle of a dark image: (B, 1, size, size)."""
    x = torch.zeros(b, 1, size, size)
    x[:, :, size // 4: 3 * size // 4, size // 2 - 2: size // 2 + 2] = 1.0
    return x


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_registry_matches_config_names():
    assert tuple(AUGMENTS) == AUGMENT_NAMES


@pytest.mark.parametrize("name", ["affine", "elastic"])
def test_warp_keeps_shape_range_and_mass_but_moves_pixels(name):
    x = _digit_like()
    y = get_augment(name, (1, 28, 28))(x, 1.0, _gen())
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1 + 1e-6
    moved = (y - x).abs().flatten(1).sum(1)
    assert (moved > 1.0).all()                     # every image is warped ...
    mass = y.flatten(1).sum(1) / x.flatten(1).sum(1)
    assert ((mass > 0.5) & (mass < 2.0)).all()     # ... but stays one stroke, not a smear
    assert not torch.equal(y[0], y[1])             # each image draws its own warp


@pytest.mark.parametrize("name", ["affine", "elastic"])
def test_warp_is_reproducible_and_zero_strength_is_identity(name):
    x = _digit_like()
    fn = get_augment(name, (1, 28, 28))
    assert torch.equal(fn(x, 1.0, _gen(3)), fn(x, 1.0, _gen(3)))
    assert not torch.equal(fn(x, 1.0, _gen(3)), fn(x, 1.0, _gen(4)))
    assert torch.allclose(fn(x, 0.0, _gen()), x, atol=1e-5)


def test_stronger_warps_move_more():
    x = _digit_like(64)
    fn = get_augment("elastic", (1, 28, 28))
    weak = (fn(x, 0.5, _gen()) - x).abs().sum()
    strong = (fn(x, 2.0, _gen()) - x).abs().sum()
    assert strong > 1.5 * weak


def test_vectors_are_refused_with_advice():
    assert get_augment("none", (5,)) is AUGMENTS["none"]
    with pytest.raises(ConfigError, match="use augment 'none'"):
        get_augment("elastic", (5,))
    with pytest.raises(ConfigError, match="unknown augmentation"):
        get_augment("mixup", (1, 8, 8))


@pytest.mark.parametrize("bad", [dict(augment="rotate"), dict(augment_strength=-1.0),
                                 dict(augment_strength=float("nan")), dict(augment_strength=9.0),
                                 dict(lr_schedule="step")])
def test_train_config_refuses_bad_values(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_training_with_augmentation_is_seeded_and_differs_from_plain():
    rng = np.random.default_rng(0)
    x = (rng.random((64, 1, 8, 8)) > 0.6).astype(np.float32)
    cfg = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    aug = TrainConfig(epochs=2, batch_size=16, augment="elastic")
    a, b = (train(cfg, aug, x).model.state_dict() for _ in range(2))
    plain = train(cfg, TrainConfig(epochs=2, batch_size=16), x).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], plain[k]) for k in a)


def test_training_vectors_with_augmentation_is_refused_before_any_step():
    cfg = ModelConfig(family="ae", input_shape=(6,), hidden=(8,), latent_dim=2)
    with pytest.raises(ConfigError, match="warps images"):
        train(cfg, TrainConfig(epochs=1, augment="affine"), np.zeros((8, 6), np.float32))
