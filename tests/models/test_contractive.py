"""The contractive AE: its Jacobian penalty, training, checkpoints and the CLI."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from aeviz.cli.main import build_parser
from aeviz.cli.train import configs_from_args
from aeviz.core.errors import ConfigError
from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.models.contractive import ContractiveAutoencoder, jacobian_sq_norm
from aeviz.models.families import MODELS
from aeviz.training.loop import seeded_model, train


def config(latent=2, **kw) -> ModelConfig:
    return ModelConfig(family="cae", input_shape=(1, 4, 4), hidden=(12,), latent_dim=latent, **kw)


def data(n=64, seed=0) -> np.ndarray:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)).numpy()


def exact_sq_norm(f, x: torch.Tensor) -> torch.Tensor:
    """||df/dx||_F^2 per item from the full Jacobian (items are independent)."""
    return torch.stack([torch.autograd.functional.jacobian(f, xi[None]).pow(2).sum() for xi in x])


def test_is_a_registered_deterministic_family():
    assert MODELS["cae"] is ContractiveAutoencoder
    assert not config().is_variational and ContractiveAutoencoder.uses == ("contraction",)
    assert ModelConfig().contraction == 0.1


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_contraction_must_be_finite_and_non_negative(bad):
    with pytest.raises(ConfigError, match="contraction must be a finite number >= 0"):
        config(contraction=bad)
    assert ModelConfig.from_dict(config(contraction=0.5).to_dict()).contraction == 0.5


def test_estimate_matches_the_exact_jacobian_norm_of_a_tiny_mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4))
    x = torch.randn(3, 5)
    exact = exact_sq_norm(net, x)                                          # (3,)
    xr = x.repeat_interleave(4000, 0).requires_grad_(True)                 # 4000 draws per item
    est = jacobian_sq_norm(net(xr), xr, probes=1, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(est.view(3, -1).mean(1), exact, rtol=0.05)      # unbiased: the mean converges
    assert est.std() > 0                                                   # it is an estimate...
    xe = x.clone().requires_grad_(True)
    assert torch.allclose(jacobian_sq_norm(net(xe), xe, probes=4), exact, rtol=1e-5)   # ...exact at D


def test_model_penalty_is_the_exact_encoder_norm_for_small_codes():
    model = seeded_model(config(latent=2), 0)
    x = torch.from_numpy(data(5))
    out = model(x, generator=torch.Generator().manual_seed(0))
    exact = exact_sq_norm(model.encode, x).mean()
    assert torch.allclose(out.penalty, 0.1 * exact, rtol=1e-4)
    assert torch.allclose(out.loss, out.recon + out.penalty) and out.kl == 0


def test_penalty_is_positive_and_grows_with_contraction():
    x = torch.from_numpy(data(8))
    small = seeded_model(config(latent=3, contraction=0.1), 0)              # 3 > probes: estimated
    large = seeded_model(config(latent=3, contraction=1.0), 0)
    p_small = small(x, generator=torch.Generator().manual_seed(0)).penalty
    p_large = large(x, generator=torch.Generator().manual_seed(0)).penalty
    assert p_small > 0 and torch.allclose(p_large, 10 * p_small, rtol=1e-5)
    zero = seeded_model(config(latent=3, contraction=0.0), 0)
    assert zero(x).penalty == 0


def test_evaluation_under_no_grad_is_repeatable_and_detached():
    model = seeded_model(config(latent=3), 0).eval()
    x = torch.from_numpy(data(8))
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a.loss, b.loss) and a.penalty > 0
    assert not a.loss.requires_grad and not a.z.requires_grad


def test_training_lowers_the_loss_on_tiny_seeded_data():
    result = train(config(latent=3, contraction=0.5), TrainConfig(epochs=15, batch_size=16, lr=1e-2, seed=0),
                   data(64), data(16, seed=1), device="cpu")
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"] and last["test_loss"] < first["test_loss"]
    assert all(math.isfinite(row["train_loss"]) for row in result.history)


def test_checkpoint_round_trip(tmp_path):
    model = seeded_model(config(latent=3, contraction=0.25), 0)
    path = save_checkpoint(tmp_path / "cae", model, stages=(TrainConfig(epochs=1),), dataset_name="digits")
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, ContractiveAutoencoder) and loaded.config == model.config
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.from_numpy(data(4))
    assert torch.equal(loaded.model.eval()(x).loss, model.eval()(x).loss)


def test_the_cli_offers_it_with_its_coefficient(capsys):
    args = build_parser().parse_args(["train", "--family", "cae", "--contraction", "0.5", "--out", "x"])
    model_cfg, _ = configs_from_args(args, (1, 8, 8))
    assert model_cfg.family == "cae" and model_cfg.contraction == 0.5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    assert "{ae,dae,sae,vae,pca,cae," in text and "--contraction" in text and "contractive AE" in text
