import math
from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch

from aeviz.models.config import MODEL_CHOICES, ModelConfig
from aeviz.core.errors import ConfigError
from aeviz.models.families import MODELS, Posterior, build, describe, family_fields, reconstruction_nll

SHAPES = [(1, 8, 8), (1, 28, 20), (3,)]


def make(family, backbone="mlp", shape=(1, 8, 8), latent=3):
    hidden = {"conv": (8, 16), "linear": ()}.get(backbone, (32, 16))
    model = build(ModelConfig(family=family, backbone=backbone, input_shape=shape, latent_dim=latent,
                              hidden=hidden))
    if MODELS[family].closed_form:
        model.fit(torch.rand(20, *shape, generator=torch.Generator().manual_seed(0)).numpy())
    return model


def test_registry_covers_every_family():
    assert list(MODELS)[:5] == ["ae", "dae", "sae", "vae", "pca"]    # the picker's order stays
    with pytest.raises(ConfigError, match="unknown model family 'nope'"):
        build(SimpleNamespace(family="nope"))
    with pytest.raises(ConfigError, match="family must be one of ae, dae, sae, vae, pca"):
        ModelConfig(family="nope")


CLASS_ATTRIBUTES = {"family": str, "help": str, "variational": bool, "closed_form": bool, "uses": tuple}


@pytest.mark.parametrize("family", list(MODELS))
def test_every_family_declares_what_callers_read(family):
    cls = MODELS[family]
    for name, kind in CLASS_ATTRIBUTES.items():
        assert isinstance(getattr(cls, name, None), kind), f"{cls.__name__}.{name} must be a {kind.__name__}"
    assert cls.family == family and "\n" not in cls.help
    assert family == "ae" or cls.help != MODELS["ae"].help, f"{cls.__name__} must say what it is: set help"
    assert set(cls.uses) <= {f.name for f in fields(ModelConfig)}, f"{cls.__name__}.uses names no field"
    config = ModelConfig(family=family)
    assert config.family_class is cls and config.is_variational is cls.variational


def _changed(config: ModelConfig, name: str):
    value = getattr(config, name)
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):                 # the next registered choice
        choices = MODEL_CHOICES[name]
        return choices[(choices.index(value) + 1) % len(choices)]
    return value + 1 if isinstance(value, int) else 2 * value + 0.05


def _base(family: str, name: str) -> dict:
    """Settings under which ``name`` can matter (components count only for a mixture prior)."""
    return {"prior": "mixture"} if name == "prior_components" else {}


@pytest.mark.parametrize("family", list(MODELS))
def test_uses_is_exactly_what_the_loss_reads(family):
    """A field in ``uses`` moves the loss; a field another family uses does not."""
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(6)

    def loss(config):
        """forward's loss and what the regularise phase reports, from the same initial weights"""
        torch.manual_seed(0)
        model = build(config)
        out = model(x, generator=torch.Generator().manual_seed(0)).loss.item()
        return out, model.regularise(x, torch.Generator().manual_seed(0), 1e-3, {}, labels)
    for name in family_fields():
        base = make(family).config.replace(**_base(family, name))
        moved = loss(base.replace(**{name: _changed(base, name)})) != loss(base)
        assert moved == (name in MODELS[family].uses), \
            f"{family}: {name} " + ("moves the loss but is not in uses" if moved else "is in uses but inert")


@pytest.mark.parametrize("family", list(MODELS))
@pytest.mark.parametrize("backbone, shape", [("mlp", s) for s in SHAPES] + [("conv", (1, 8, 8)), ("conv", (1, 28, 20)),
                                             ("linear", (1, 8, 8)), ("linear", (3,))])
def test_shapes(family, backbone, shape):
    if family == "pca" and backbone != "mlp":
        pytest.skip("pca has no backbone")
    model = make(family, backbone, shape)
    x = torch.rand(5, *shape, generator=torch.Generator().manual_seed(1))
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (5, 3)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert model.encode_numpy(x.numpy()).shape == (5, 3)
    assert model.decode_numpy(out.z.detach().numpy()).shape == x.shape
    assert describe(model).startswith(family.upper())


def test_vae_posterior_and_loss_parts():
    model = make("vae")
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    q = model.encode(x)
    assert isinstance(q, Posterior) and q.mean.shape == q.logvar.shape == (4, 3)
    s1 = q.sample(torch.Generator().manual_seed(0))
    s2 = q.sample(torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2) and q.sample(n=7).shape == (7, 4, 3)
    model.train()
    out = model(x, generator=torch.Generator().manual_seed(0), kl_weight=0.5)
    assert torch.allclose(out.loss, out.recon + 0.5 * out.kl)
    assert out.kl > 0


def test_kl_of_standard_normal_is_zero_and_known_value():
    q = Posterior(torch.zeros(2, 4), torch.zeros(2, 4))
    assert torch.allclose(q.kl(), torch.zeros(2))
    q = Posterior(torch.ones(1, 2), torch.zeros(1, 2))          # KL = 0.5 * sum(mu^2)
    assert torch.allclose(q.kl(), torch.tensor([1.0]))


def test_beta_scales_kl():
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    a, b = make("vae"), make("vae")
    b.load_state_dict(a.state_dict())
    b.config = b.config.replace(beta=4.0)
    a.eval(); b.eval()
    oa, ob = a(x), b(x)
    assert torch.allclose(ob.loss - oa.loss, 3.0 * oa.kl, atol=1e-4)  # float32 sums of ~45


@pytest.mark.parametrize("noise", ["mask", "gaussian", "salt_pepper"])
def test_denoising_corrupts_only_in_training(noise):
    model = build(ModelConfig(family="dae", noise=noise, noise_level=0.5, hidden=(16,), latent_dim=2))
    x = torch.full((3, 1, 8, 8), 0.5)
    noisy = model.corrupt(x, torch.Generator().manual_seed(0))
    assert not torch.equal(noisy, x) and noisy.min() >= 0 and noisy.max() <= 1
    model.eval()
    assert torch.equal(model(x).loss, model(x).loss)


def test_sparse_penalty_is_l1_of_code():
    model = make("sae")
    z = torch.tensor([[1.0, -2.0, 0.0]])
    assert math.isclose(model.penalty(z).item(), model.config.sparsity * 3.0, rel_tol=1e-6)


def test_pca_matches_numpy_svd_and_reconstructs_exactly_at_full_rank():
    x = torch.rand(30, 1, 2, 3, generator=torch.Generator().manual_seed(0)).numpy()
    model = build(ModelConfig(family="pca", input_shape=(1, 2, 3), latent_dim=6)).fit(x)
    recon = model.decode_numpy(model.encode_numpy(x))
    assert abs(recon - x).max() < 1e-5


def test_reconstruction_nll_values():
    x = torch.tensor([[1.0, 0.0]])
    logits = torch.tensor([[0.0, 0.0]])
    assert torch.allclose(reconstruction_nll(logits, x, "bernoulli"), torch.tensor([2 * math.log(2)]))
    assert torch.allclose(reconstruction_nll(logits, x, "gaussian"), torch.tensor([0.5]))


def test_linear_backbone_is_one_affine_map_each_way():
    model = make("ae", "linear", (1, 8, 8), latent=3)
    weights = [tuple(p.shape) for p in model.parameters()]
    assert sorted(weights) == sorted([(3, 64), (3,), (64, 3), (64,)])       # head + decoder only
    assert sum(math.prod(w) for w in weights) <= model.config.parameter_count()
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    logits = model.decoder(z).flatten(1)
    doubled = model.decoder(2 * z).flatten(1) - model.decoder.net.bias     # affine in the code
    assert torch.allclose(doubled, 2 * (logits - model.decoder.net.bias), atol=1e-5)
    assert "linear" in describe(model)


def test_linear_backbone_refuses_hidden_layers():
    with pytest.raises(ConfigError, match="the linear backbone has no hidden layers"):
        ModelConfig(family="ae", backbone="linear", hidden=(32,))
