"""Metrics against hand-computed values on tiny constructed models, and evaluate()."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aeviz.models.checkpoint import Checkpoint, save_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.data.registry import load_dataset
from aeviz.core.errors import ConfigError
from aeviz.metrics.evaluation import (active_units, code_variances, evaluate, iwae_nll, kl,
                           knn_accuracy, knn_accuracy_loo, mse_per_pixel, neg_elbo,
                           off_manifold_share, recon_nll, sse_per_image, trustworthiness)
from aeviz.metrics.codes import interpolation_smoothness
from aeviz.models.families import build
from aeviz.training.loop import seeded_model, train

from conftest import real_data_dir


def _pca(dim: int, latent: int, components: np.ndarray, mean: np.ndarray):
    model = build(ModelConfig(family="pca", input_shape=(dim,), latent_dim=latent))
    model.components.copy_(torch.as_tensor(components, dtype=torch.float32))
    model.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
    return model


def _constant_vae(mean, logvar, out_logits, dim: int = 4):
    """A VAE whose posterior ignores x and whose decoder ignores z."""
    latent = len(mean)
    model = seeded_model(ModelConfig(family="vae", input_shape=(dim,), latent_dim=latent, hidden=(8,)), 0)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([*mean, *logvar], dtype=torch.float32))
        last = model.decoder.net[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor(out_logits, dtype=torch.float32))
    return model


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return np.random.default_rng(1).random((50, 4), dtype=np.float32)


def test_sse_of_a_known_reconstruction(vectors):
    # PCA onto the first two coordinates keeps them; the error is the rest, squared.
    model = _pca(4, 2, np.eye(4)[:2], np.zeros(4))
    expected = (vectors[:, 2:].astype(np.float64) ** 2).sum(1).mean()
    assert sse_per_image(model, vectors) == pytest.approx(expected, rel=1e-6)
    assert mse_per_pixel(model, vectors) == pytest.approx(expected / 4, rel=1e-6)


def test_pca_reconstruction_is_not_clipped(vectors):
    # The mean sits far outside [0, 1]: an unclipped linear decode keeps it.
    model = _pca(4, 1, np.eye(4)[:1], np.full(4, 3.0))
    x_hat = np.concatenate([vectors[:, :1], np.full((50, 3), 3.0)], 1)
    assert sse_per_image(model, vectors) == pytest.approx(((x_hat - vectors) ** 2).sum(1).mean(), rel=1e-6)


def test_kl_of_a_known_posterior(vectors):
    mean, logvar = [0.5, -1.0], [0.2, -0.7]
    model = _constant_vae(mean, logvar, [0.0] * 4)
    expected = 0.5 * sum(m * m + math.exp(v) - 1 - v for m, v in zip(mean, logvar))
    assert kl(model, vectors) == pytest.approx(expected, rel=1e-5)


def test_iwae_is_exact_when_the_posterior_is_the_prior_and_z_is_ignored(vectors):
    # Then every importance weight equals p(x|z) = p(x): the bound is tight for any k.
    logits = [0.3, -1.2, 2.0, 0.0]
    model = _constant_vae([0.0, 0.0], [0.0, 0.0], logits)
    exact = _bce(logits, vectors)
    for k in (1, 7, 100):
        assert iwae_nll(model, vectors, k) == pytest.approx(exact, rel=1e-5)
    assert iwae_nll(model, vectors, 7, max_rows=100) == pytest.approx(exact, rel=1e-5)   # 4 chunks
    assert neg_elbo(model, vectors) == pytest.approx(exact, rel=1e-5)
    assert recon_nll(model, vectors) == pytest.approx(exact, rel=1e-5)


def _bce(logits, x: np.ndarray) -> float:
    t = torch.as_tensor(x)
    return F.binary_cross_entropy_with_logits(torch.tensor(logits).expand_as(t), t,
                                              reduction="none").sum(1).mean().item()


def test_iwae_k1_equals_the_elbo_in_expectation_and_tightens_with_k(vectors):
    # The decoder ignores z, so -log p(x) is exact BCE and the ELBO is exact + KL(q || p).
    logits, mean, logvar = [0.3, -1.2, 2.0, 0.0], [0.5, 0.0], [-0.4, 0.3]
    model = _constant_vae(mean, logvar, logits)
    exact = _bce(logits, vectors)
    gap = 0.5 * sum(m * m + math.exp(v) - 1 - v for m, v in zip(mean, logvar))
    assert neg_elbo(model, vectors) == pytest.approx(exact + gap, rel=1e-5)
    k1 = iwae_nll(model, np.tile(vectors, (40, 1)), 1, seed=1, per_image=True)   # 2,000 draws
    assert abs(k1.mean() - (exact + gap)) < 4 * k1.std() / math.sqrt(len(k1))
    k20 = iwae_nll(model, vectors, 20, seed=2)
    k1000 = iwae_nll(model, vectors, 1000, seed=3)
    assert exact - 0.01 < k1000 < k20 < exact + gap
    assert k1000 - exact < 0.05


@pytest.fixture(scope="module")
def random_vae():
    return seeded_model(ModelConfig(family="vae", input_shape=(1, 8, 8), latent_dim=3, hidden=(16,)), 3)


def test_iwae_is_seeded_and_independent_of_chunking(random_vae, tiny_images):
    a = iwae_nll(random_vae, tiny_images, 30, seed=5)
    b = iwae_nll(random_vae, tiny_images, 30, seed=5)
    c = iwae_nll(random_vae, tiny_images, 30, seed=5, max_rows=640)   # 3 chunks of 10 samples
    assert a == b
    assert c == pytest.approx(a, abs=1.0)                 # other draws, same estimate
    assert iwae_nll(random_vae, tiny_images, 30, seed=5, per_image=True).shape == (64,)


def test_vae_metrics_refuse_deterministic_models(vectors):
    with pytest.raises(ConfigError, match="needs a VAE"):
        iwae_nll(_pca(4, 1, np.eye(4)[:1], np.zeros(4)), vectors, 5)


def test_active_units_on_a_constructed_model():
    rng = np.random.default_rng(0)
    x = np.stack([rng.random(200), 0.1 * rng.random(200), np.full(200, 0.5), rng.random(200)], 1)
    x = x.astype(np.float32)
    model = _pca(4, 3, np.eye(4)[:3], np.zeros(4))       # codes are x0, x1, x2
    var = code_variances(model, x)
    np.testing.assert_allclose(var, x[:, :3].astype(np.float64).var(0), rtol=1e-5, atol=1e-9)
    assert active_units(model, x) == 1                    # var ~ 1/12, ~ 1/1200, 0
    assert active_units(model, x, threshold=1e-4) == 2
    assert active_units(_constant_vae([1.0, 2.0], [0.0, 0.0], [0.0] * 4), x) == 0


def test_knn_accuracy_by_hand():
    pts = np.array([[0.0], [0.1], [5.0], [5.1]])
    assert knn_accuracy(pts, [0, 0, 1, 1], np.array([[0.05], [4.9]]), [0, 1], k=1) == 1.0
    assert knn_accuracy(pts, [0, 0, 1, 1], np.array([[0.05], [4.9]]), [1, 1], k=1) == 0.5
    assert knn_accuracy_loo(pts, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert knn_accuracy_loo(pts, np.array([0, 1, 0, 1]), k=1) == 0.0


def test_trustworthiness_of_identity_and_scrambled_maps():
    x = np.random.default_rng(0).random((200, 5))
    assert trustworthiness(x, x) == pytest.approx(1.0)
    scrambled = np.random.default_rng(1).random((200, 2))
    assert trustworthiness(x, scrambled) < 0.7


def test_off_manifold_share_by_hand():
    ref = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])   # spacing 0.1
    assert off_manifold_share(np.array([[0.05], [5.0], [10.0]]), ref) == pytest.approx(1 / 3)


def test_linear_decoder_interpolates_straight(vectors):
    model = _pca(4, 2, np.eye(4)[:2], np.zeros(4))
    out = interpolation_smoothness(model, vectors[:10], vectors[10:20], steps=8,
                                   reference_codes=model.encode_numpy(vectors))
    assert out["path_ratio"] == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= out["off_manifold_share"] <= 1.0


@pytest.fixture(scope="module")
def digit_models(digits):
    fams = {"ae": None, "vae": None, "pca": None}
    for fam in fams:
        cfg = ModelConfig(family=fam, input_shape=(1, 8, 8), latent_dim=4, hidden=(32,))
        stage = TrainConfig(epochs=3, batch_size=128)
        fams[fam] = Checkpoint.of(train(cfg, stage, digits.x_train, device="cpu").model, (stage,), "digits")
    return fams


def test_evaluate_reports_what_applies_to_each_family(digit_models, digits):
    base = {"dataset", "split", "n", "family", "latent_dim", "sse_per_image", "mse_per_pixel",
            "active_units", "knn_acc_1", "knn_acc_5", "map_knn_acc_1", "map_trustworthiness",
            "prior_confidence", "real_confidence", "interp_path_ratio", "interp_off_manifold_share"}
    res = {fam: evaluate(m, digits, iwae_k=20) for fam, m in digit_models.items()}
    for fam, r in res.items():
        assert base <= set(r), fam
        json.dumps(r, allow_nan=False)                       # flat and JSON-safe
        assert r["n"] == 360 and r["family"] == fam and r["latent_dim"] == 4
    assert {"neg_elbo", "kl", "iwae_nll", "iwae_k"} <= set(res["vae"])
    assert "neg_elbo" not in res["ae"] and "fitted_confidence" in res["ae"]
    assert all(0.0 <= res[f]["prior_1nn_acc"] <= 1.0 for f in res)        # every family, AE against N(0, I)
    assert "fitted_confidence" not in res["vae"]
    assert res["vae"]["iwae_nll"] <= res["vae"]["neg_elbo"] + 1.0
    assert res["pca"]["interp_path_ratio"] == pytest.approx(1.0, abs=1e-4)


def test_evaluate_quick_limit_and_checkpoint_path(digit_models, digits, tmp_path):
    path = save_checkpoint(tmp_path / "vae", digit_models["vae"].model, dataset_name="digits",
                           stages=(TrainConfig(binarize=True), TrainConfig(epochs=2)))
    quick = evaluate(path, "digits", quick=True, limit=100, iwae_k=10)
    assert quick["n"] == 100 and "knn_acc_1" not in quick and "iwae_nll" not in quick
    assert quick["binarized"] is True                        # as the model was trained
    again = evaluate(path, digits, quick=True, limit=100)
    assert again["neg_elbo"] == quick["neg_elbo"]           # seeded
    assert evaluate(path, digits, quick=True, limit=100, binarize=False)["binarized"] is False


def test_evaluate_refuses_a_bare_model_whose_recipe_is_lost(digit_models, digits):
    # the bug this closes: `eval` passed ckpt.model, so a binarized VAE was scored on grey images
    with pytest.raises(ConfigError, match="not its bare model"):
        evaluate(digit_models["vae"].model, digits, quick=True)


def test_evaluate_refuses_the_wrong_dataset(digit_models):
    with pytest.raises(ConfigError, match="expects"):
        evaluate(digit_models["ae"], "moons")
    with pytest.raises(ConfigError, match="limit"):
        evaluate(digit_models["ae"], "digits", limit=0)


def test_evaluate_train_split_uses_leave_one_out(digit_models, digits):
    r = evaluate(digit_models["pca"], digits, split="train", limit=300)
    assert r["split"] == "train" and r["n"] == 300
    assert r["knn_acc_1"] < 1.0                 # not trivially scored against itself


@pytest.mark.slow
def test_pca_30_matches_hinton_and_salakhutdinov_on_real_mnist():
    data = load_dataset("mnist", real_data_dir("mnist"), download=False)
    cfg = ModelConfig(family="pca", input_shape=(1, 28, 28), latent_dim=30)
    model = train(cfg, TrainConfig(epochs=1), data.x_train, device="cpu").model
    result = evaluate(Checkpoint.of(model, (TrainConfig(epochs=1),)), data, quick=True)
    assert result["n"] == 10_000
    assert result["sse_per_image"] == pytest.approx(13.87, abs=0.05)


@pytest.mark.slow
def test_logistic_pca_30_matches_hinton_and_salakhutdinov_on_real_mnist():
    # a linear code with sigmoid outputs trained on cross-entropy: their "logistic PCA", 8.01
    data = load_dataset("mnist", real_data_dir("mnist"), download=False)
    cfg = ModelConfig(family="ae", backbone="linear", hidden=(), input_shape=(1, 28, 28), latent_dim=30)
    stage = TrainConfig(epochs=60, lr=3e-3, batch_size=256, seed=0)
    model = train(cfg, stage, data.x_train, device="cpu").model
    result = evaluate(Checkpoint.of(model, (stage,)), data, quick=True)
    assert result["sse_per_image"] == pytest.approx(8.01, abs=0.15)


def test_code_metrics_skip_knn_for_a_single_class():
    from aeviz.metrics.codes import code_metrics
    rng = np.random.default_rng(0)
    x, codes = rng.random((40, 6)), rng.random((40, 3))
    out = code_metrics(x, codes, np.zeros(40, int), codes, np.zeros(40, int))
    assert "knn_acc_1" not in out and 0.0 <= out["map_trustworthiness"] <= 1.0
    two = code_metrics(x, codes, np.arange(40) % 2, codes, np.arange(40) % 2)
    assert two["knn_acc_1"] == 1.0 and two["map_method"] == "pca"      # test == train codes


@pytest.mark.slow
def test_shipped_deep_autoencoder_beats_hinton_and_salakhutdinov_on_real_mnist():
    # the must-show: `eval pretrained/mnist-ae-30` reports <= 3.00 SSE per test image
    from aeviz.zoo.recipes import PRETRAINED_DIR
    data = load_dataset("mnist", real_data_dir("mnist"), download=False)
    result = evaluate(PRETRAINED_DIR / "mnist-ae-30", data, quick=True)
    assert result["n"] == 10_000 and result["sse_per_image"] <= 3.00
