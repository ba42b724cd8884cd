"""Are decoded random codes recognisable? The judge's confidence on generated samples.

"An AE's latent space has holes, a VAE's does not": decode 1,000 codes drawn
from the model's prior (N(0, I) for a VAE and any family without a prior; an
AAE's chosen prior) and, for deterministic
models, from a Gaussian fitted to the train codes (mean + full covariance,
the fairest simple sampler for an AE); then ask a classifier trained on real
data how sure it is of each sample's class. The same scores on real test
images are the reference.
"""
from __future__ import annotations

import numpy as np

from aeviz.metrics.judge import Judge
from aeviz.core.errors import ConfigError
from aeviz.models.families import Autoencoder, prior_draws

N_SAMPLES = 1000
CONFIDENT = 0.9


def judge_scores(judge: Judge, images: np.ndarray) -> dict[str, float]:
    """Mean max-softmax confidence, mean entropy (nats) and share with confidence > 0.9."""
    p = judge.predict_proba(np.clip(images, 0.0, 1.0))          # PCA decodes outside [0, 1]
    conf = p.max(1)
    entropy = -(p * np.log(np.clip(p, 1e-12, None))).sum(1)
    return {"confidence": float(conf.mean()), "entropy": float(entropy.mean()),
            "confident_share": float((conf > CONFIDENT).mean())}


def fitted_codes(train_codes: np.ndarray, n: int = N_SAMPLES, seed: int = 0) -> np.ndarray:
    """(n, D) float32 draws from N(mean, full covariance) of ``train_codes``."""
    c = np.asarray(train_codes, np.float64)
    if c.ndim != 2 or len(c) < 2:
        raise ConfigError(f"need at least 2 train codes (N, D) to fit a Gaussian, got {c.shape}")
    cov = np.atleast_2d(np.cov(c, rowvar=False))
    # A tiny ridge keeps Cholesky working when some code dimensions are (nearly) constant.
    ridge = 1e-6 * max(float(np.trace(cov)) / len(cov), 1e-12)
    chol = np.linalg.cholesky(cov + ridge * np.eye(len(cov)))
    eps = np.random.default_rng(seed).standard_normal((n, len(cov)))
    return (c.mean(0) + eps @ chol.T).astype(np.float32)


def generation_quality(model: Autoencoder, judge: Judge, *, n: int = N_SAMPLES, seed: int = 0,
                       train_codes: np.ndarray | None = None) -> dict[str, float]:
    """prior_* scores for samples of the model's prior (N(0, I) for a family without one);
    fitted_* too when ``train_codes`` are given."""
    out = {f"prior_{k}": v for k, v in
           judge_scores(judge, model.decode_numpy(prior_draws(model, n, seed))).items()}
    if train_codes is not None:
        z = fitted_codes(train_codes, n, seed)
        out.update({f"fitted_{k}": v for k, v in judge_scores(judge, model.decode_numpy(z)).items()})
    return out


def real_reference(judge: Judge, images: np.ndarray) -> dict[str, float]:
    """The judge's scores on real images: the ceiling generated samples are read against."""
    return {f"real_{k}": v for k, v in judge_scores(judge, images).items()}
