"""The adversarial autoencoder: its codes match the prior it was given, better than an AE's."""
import numpy as np
import pytest
import torch

from conftest import run_main
from aeviz.core.errors import ConfigError
from aeviz.metrics.prior_match import prior_match
from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.models.families import MODELS, build
from aeviz.models.priors import Mixture
from aeviz.training.loop import train

STAGE = TrainConfig(epochs=15, batch_size=64, lr=2e-3, seed=0)


def config(family="aae", **kw) -> ModelConfig:
    return ModelConfig(**{"family": family, "input_shape": (1, 8, 8), "hidden": (64, 32), "latent_dim": 2, **kw})


@pytest.fixture(scope="module")
def pair(digits):
    """An AE and an AAE with a 10-component mixture prior: same backbone, seed, data and recipe."""
    ae = train(config("ae"), STAGE, digits.x_train).model
    aae = train(config(prior="mixture"), STAGE, digits.x_train).model
    return ae, aae


def test_is_a_registered_deterministic_family_with_the_chosen_prior():
    cls = MODELS["aae"]
    assert not cls.variational and not cls.closed_form
    model = build(config(prior="sphere", latent_dim=3))
    assert model.prior().name == "sphere"
    z = model.codes(torch.rand(5, 1, 8, 8))
    assert torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-5)          # codes lie on the sphere
    assert sum(p.numel() for p in model.parameters()) <= model.config.parameter_count()


def test_a_prior_the_latent_size_cannot_hold_is_refused():
    with pytest.raises(ConfigError, match="mixture prior needs a latent size of at least 2"):
        config(prior="mixture", latent_dim=1)
    with pytest.raises(ConfigError, match="prior must be one of normal, mixture"):
        config(prior="torus")


def test_the_aae_codes_match_its_prior_better_than_an_ae_codes(pair, digits):
    ae, aae = pair
    prior = aae.prior()
    ours, theirs = prior_match(aae, digits.x_test), prior_match(ae, digits.x_test, prior)
    assert ours["prior_mmd"] < theirs["prior_mmd"] / 4, (ours, theirs)
    assert ours["prior_1nn_acc"] < theirs["prior_1nn_acc"], (ours, theirs)
    # and the mixture's shape shows: codes spread over the ten components, not one blob
    codes = aae.encode_numpy(digits.x_test)
    angle = np.arctan2(codes[:, 1], codes[:, 0]) % (2 * np.pi)
    nearest = np.rint(angle / (2 * np.pi / 10)).astype(int) % 10
    assert len(np.unique(nearest)) >= 8


def test_label_placement_puts_each_class_on_its_own_component(digits):
    cfg = config(prior="mixture", prior_by_label=True)
    model = train(cfg, TrainConfig(epochs=30, batch_size=64, lr=2e-3, seed=1), digits.x_train,
                  y_train=digits.y_train).model
    codes = model.encode_numpy(digits.x_test)
    angle = np.arctan2(codes[:, 1], codes[:, 0]) % (2 * np.pi)
    component = np.rint(angle / (2 * np.pi / 10)).astype(int) % 10
    assert (component == digits.y_test).mean() > 0.4           # unseen images; chance is 0.1
    with pytest.raises(ConfigError, match="needs one label per sample"):
        train(cfg, STAGE.__class__(epochs=1), digits.x_train)


def test_training_is_reproducible_and_logs_both_players(digits):
    a = train(config(prior="ring"), TrainConfig(epochs=2, seed=3), digits.x_train[:300])
    b = train(config(prior="ring"), TrainConfig(epochs=2, seed=3), digits.x_train[:300])
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert {"train_disc", "train_gen"} <= set(a.history[-1])
    assert a.history == [{**row, "seconds": r2["seconds"]} for row, r2 in zip(b.history, a.history)]


def test_a_saved_aae_loads_with_its_prior_and_discriminator(tmp_path, pair):
    _, aae = pair
    folder = save_checkpoint(tmp_path / "m", aae, dataset_name="digits")
    back = load_checkpoint(folder).model
    assert back.config == aae.config and isinstance(back.prior(), Mixture)
    for k, v in aae.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


def test_the_cli_trains_one_and_eval_reports_the_prior_match(tmp_path):
    out = tmp_path / "aae"
    code, err = run_main(["train", "--dataset", "digits", "--family", "aae", "--prior", "mixture",
                          "--latent-dim", "2", "--epochs", "3", "--seed", "0", "--out", str(out),
                          "--no-progress"])
    assert code == 0, err
    assert load_checkpoint(out).config.prior == "mixture"
