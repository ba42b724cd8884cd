"""Parzen-window log-likelihood of a generative model: the protocol of Goodfellow et al. 2014
and Makhzani et al. 2015, kept for comparison with their tables, not as a good measure.

Decode ``n`` prior draws, put an isotropic Gaussian of width sigma on each
decoded image, and score held-out images under that mixture:

    log p(x) = logsumexp_s(-|x - x_s|^2 / (2 sigma^2)) - log n - (d / 2) log(2 pi sigma^2)

sigma is chosen on a validation split (the last sixth of the train split, at
most 10,000 images), never on test; the test images are scored once with it.
Parzen estimates are weak (Theis et al. 2016, "A note on the evaluation of
generative models"): they favour blurry samples in high dimensions and say
little about likelihood, so aeviz reports them only beside the published ones.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from aeviz.core.errors import ConfigError
from aeviz.models.families import Autoencoder, prior_draws

N_SAMPLES = 10_000
SIGMAS = tuple(float(s) for s in np.logspace(-1.3, 0, 14))     # 0.05 .. 1, as in the papers' range
VALIDATION_MAX = 10_000
BLOCK_ROWS = 256               # held-out images per block: 256 x 10k distances (10 MB float32)


def validation_split(x_train: np.ndarray) -> np.ndarray:
    """The last sixth of the train split, at most 10,000 images (MNIST: 50,000-59,999)."""
    n = min(VALIDATION_MAX, len(x_train) // 6)
    if n < 1:
        raise ConfigError(f"the train split has {len(x_train)} images, too few to hold out a validation split")
    return x_train[len(x_train) - n:]


def log_likelihoods(samples: np.ndarray, x: np.ndarray, sigmas=SIGMAS) -> np.ndarray:
    """(len(sigmas), N) log p(x_i) under the Parzen mixture on ``samples`` (S, d) for each sigma."""
    s = torch.from_numpy(np.array(samples, np.float32).reshape(len(samples), -1))
    sig = torch.as_tensor(np.asarray(sigmas, np.float64))
    if len(s) == 0 or s.shape[1] != np.prod(x.shape[1:]):
        raise ConfigError(f"Parzen window needs samples shaped like the data; got {tuple(s.shape)} "
                          f"and {x.shape}")
    d = s.shape[1]
    s_sq = s.pow(2).sum(1)                                             # (S,)
    const = -math.log(len(s)) - 0.5 * d * torch.log(2 * math.pi * sig.pow(2))   # (K,)
    out = []
    for i in range(0, len(x), BLOCK_ROWS):
        xb = torch.from_numpy(np.array(x[i:i + BLOCK_ROWS], np.float32).reshape(-1, d))   # a copy: x may be read-only
        d2 = (xb.pow(2).sum(1, keepdim=True) - 2 * xb @ s.T + s_sq).clamp_min(0).double()  # (B, S)
        ll = torch.logsumexp(-d2[None] / (2 * sig.pow(2))[:, None, None], dim=2)          # (K, B)
        out.append(ll + const[:, None])
    return torch.cat(out, 1).numpy()


def parzen(model: Autoencoder, x_val: np.ndarray, x_test: np.ndarray, *, n: int = N_SAMPLES,
           seed: int = 0, sigmas=SIGMAS) -> dict[str, float]:
    """Bandwidth chosen on ``x_val``, mean test log-likelihood (nats) and its standard error."""
    samples = model.decode_numpy(prior_draws(model, n, seed))               # (n, *input_shape)
    val = log_likelihoods(samples, x_val, sigmas).mean(1)                   # (K,)
    best = int(np.argmax(val))
    test = log_likelihoods(samples, x_test, (sigmas[best],))[0]             # (N,)
    return {"parzen_ll": float(test.mean()), "parzen_se": float(test.std(ddof=1) / math.sqrt(len(test))),
            "parzen_sigma": float(sigmas[best]), "parzen_samples": int(n)}
