"""``evaluate``: every metric that applies to a model, as one flat JSON-safe dict.

The CLI (``eval``, ``compare``, ``zoo``) and the app's Compare view all call
this one function, so they show the same numbers. The metrics themselves live
in metrics_core (reconstruction, ELBO, IWAE, active units), metrics_codes
(kNN, maps, trustworthiness, interpolation) and metrics_gen (judged samples);
they are re-exported here.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from aeviz.models.checkpoint import Checkpoint, load_checkpoint
from aeviz.metrics.judge import load_or_train_judge
from aeviz.models.config import TrainConfig
from aeviz.data.dataset import Dataset
from aeviz.core.errors import ConfigError
from aeviz.metrics.codes import (REFERENCE_CODES, code_metrics, interpolation_smoothness, knn_accuracy,
                            knn_accuracy_loo, off_manifold_share, trustworthiness)
from aeviz.metrics.likelihood import (active_units, code_variances, elbo_terms, iwae_nll, kl, mse_per_pixel,
                           neg_elbo, recon_nll, reconstruction_errors, sse_per_image)
from aeviz.metrics.parzen import parzen as parzen_window, validation_split
from aeviz.metrics.prior_match import prior_match
from aeviz.metrics.samples import generation_quality, real_reference
from aeviz.models.families import Autoencoder, describe

__all__ = ["evaluate", "active_units", "code_variances", "elbo_terms", "iwae_nll", "kl",
           "mse_per_pixel", "neg_elbo", "recon_nll", "reconstruction_errors", "sse_per_image",
           "knn_accuracy", "knn_accuracy_loo", "trustworthiness", "interpolation_smoothness",
           "off_manifold_share", "generation_quality"]

INTERP_PAIRS = 100
INTERP_STEPS = 16


def evaluate(checkpoint: Checkpoint | str | Path, dataset: Dataset | str,
             split: str = "test", *, iwae_k: int | None = None, seed: int = 0, quick: bool = False,
             data_dir: str | Path | None = None, limit: int | None = None,
             binarize: bool | None = None, parzen: bool = False) -> dict[str, Any]:
    """Metrics of one model on one dataset split.

    quick: only reconstruction, ELBO/KL and active units (for a first paint).
    limit: score a seeded random subset of at most this many samples.
    binarize: score likelihoods (ELBO, IWAE) on a seeded Bernoulli draw of the
    images; None = as the model was trained (TrainConfig.binarize of a checkpoint).
    iwae_k: importance samples for ``iwae_nll`` (VAE only; None = skip).
    parzen: add the Parzen-window log-likelihood of decoded prior draws (``metrics.parzen``),
    its bandwidth chosen on the train split's validation part; learned families only.
    """
    start = time.perf_counter()
    if parzen and split != "test":                 # refused before any work is done
        raise ConfigError("the Parzen protocol scores the test split (its bandwidth is chosen on the "
                          "train split's validation part); use split='test'")
    model, train_cfg = _resolve_model(checkpoint)
    data = _resolve_data(dataset, data_dir, model)
    x, y = data.split(split)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        if limit < len(x):
            keep = np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))
            x, y = x[keep], y[keep]
    cfg = model.config
    binarize = bool(train_cfg and train_cfg.binarize) if binarize is None else binarize
    out: dict[str, Any] = {"dataset": data.name, "split": split, "n": int(len(x)),
                           "family": cfg.family, "latent_dim": cfg.latent_dim, "model": describe(model)}
    errors = reconstruction_errors(model, x)
    out["sse_per_image"] = float(errors.mean())
    out["mse_per_pixel"] = out["sse_per_image"] / cfg.input_size
    x_lik = _binarized(x, seed) if binarize and cfg.likelihood == "bernoulli" else x
    if cfg.family != "pca":
        out["recon_nll"] = recon_nll(model, x_lik)
    if cfg.is_variational:
        out["binarized"] = x_lik is not x
        out.update(elbo_terms(model, x_lik, seed=seed))
        if iwae_k is not None and not quick:
            out["iwae_k"] = int(iwae_k)
            out["iwae_nll"] = iwae_nll(model, x_lik, iwae_k, seed=seed)
    # how far q(z) is from the prior samples are drawn from (N(0, I) for an AE: the question the
    # prior panel asks of every model); ~0.3 s at 2,000 codes
    out.update(prior_match(model, x, seed=seed))
    variances = code_variances(model, x)
    out["active_units"] = int((variances > 0.01).sum())
    out["code_var_mean"] = float(variances.mean())
    if not quick:
        out.update(_slow_metrics(model, data, split, x, y, seed))
    if parzen and not model.closed_form:
        out.update(parzen_window(model, validation_split(data.split("train")[0]), x, seed=seed))
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


def _slow_metrics(model: Autoencoder, data: Dataset, split: str, x: np.ndarray, y: np.ndarray,
                  seed: int) -> dict[str, Any]:
    """Codes (kNN, maps), judged samples, and interpolation paths."""
    x_train, y_train = data.split("train")
    train_codes = model.encode_numpy(x_train).astype(np.float64)
    codes = model.encode_numpy(x).astype(np.float64)
    out: dict[str, Any] = code_metrics(x, train_codes, y_train, codes, y, loo=split == "train", seed=seed)
    if data.num_classes >= 2:
        judge = load_or_train_judge(data)
        out["judge_accuracy"] = judge.info["test_accuracy"]
        fitted = None if model.variational else train_codes   # deterministic: a fitted Gaussian too
        out.update(generation_quality(model, judge, seed=seed, train_codes=fitted))
        out.update(real_reference(judge, data.x_test))
    rng = np.random.default_rng(seed)
    pairs = min(INTERP_PAIRS, len(x) // 2)
    if pairs >= 1:
        idx = rng.permutation(len(x))[:2 * pairs]
        ref = train_codes if len(train_codes) <= REFERENCE_CODES else \
            train_codes[rng.choice(len(train_codes), REFERENCE_CODES, replace=False)]
        interp = interpolation_smoothness(model, x[idx[:pairs]], x[idx[pairs:]], INTERP_STEPS, ref)
        out["interp_path_ratio"] = interp["path_ratio"]
        out["interp_off_manifold_share"] = interp["off_manifold_share"]
    return out


def _resolve_model(obj: Checkpoint | str | Path) -> tuple[Autoencoder, TrainConfig | None]:
    """The model and the first stage of its recipe (``binarize`` and friends live there)."""
    if isinstance(obj, (str, Path)):
        obj = load_checkpoint(obj)
    if isinstance(obj, Checkpoint):
        return obj.model, obj.train_config
    if isinstance(obj, Autoencoder):     # a bare model has lost its recipe: refuse, never guess
        raise ConfigError("evaluate needs the checkpoint, not its bare model (the recipe, e.g. "
                          "binarized training data, decides how it is scored); pass the Checkpoint, "
                          "or Checkpoint.of(model, stages) for a model built in memory")
    raise ConfigError(f"evaluate needs a Checkpoint or a checkpoint folder, got {type(obj).__name__}")


def _resolve_data(dataset: Dataset | str, data_dir: str | Path | None, model: Autoencoder) -> Dataset:
    if isinstance(dataset, str):
        from aeviz.data.registry import load_dataset
        dataset = load_dataset(dataset, data_dir)
    if not isinstance(dataset, Dataset):
        raise ConfigError(f"evaluate needs a Dataset or a dataset name, got {type(dataset).__name__}")
    if tuple(dataset.sample_shape) != tuple(model.config.input_shape):
        raise ConfigError(f"{dataset.name} samples have shape {dataset.sample_shape} but the model "
                          f"expects {tuple(model.config.input_shape)}; use the dataset it was trained on")
    return dataset


def _binarized(x: np.ndarray, seed: int) -> np.ndarray:
    """One seeded Bernoulli draw of grey images (fixed per seed, as for a binarized test set)."""
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)
