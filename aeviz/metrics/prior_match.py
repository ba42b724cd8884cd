"""Does q(z) match p(z)? Codes against the prior, measured the same way for VAE and AAE.

The aggregate posterior q(z) is what a model's codes look like over the data:
for a VAE one draw z ~ q(z|x) per image (not the means, which shrink towards 0
and would flatter or punish it), for a deterministic encoder the codes
themselves. It is compared with as many draws from the prior the family was
trained towards (``model.prior()``) by two statistics:

- ``prior_mmd``: the unbiased squared maximum mean discrepancy (Gretton et al.
  2012) with a Gaussian kernel whose bandwidth is the median pairwise distance
  of the pooled points; 0 when the two sets are alike, larger is worse.
- ``prior_1nn_acc``: the leave-one-out accuracy of a 1-nearest-neighbour
  classifier telling codes from prior draws (a classifier two-sample test,
  Lopez-Paz & Oquab 2017); 0.5 when it cannot tell them apart, 1 when it always can.

Both use Euclidean distances between codes as stored (on the sphere: the
embedding in R^D; on the hyperboloid: its chart coordinates).
"""
from __future__ import annotations

import numpy as np
import torch

from aeviz.core.errors import ConfigError
from aeviz.metrics.codes import knn_accuracy_loo
from aeviz.metrics.likelihood import batches, check_input, evaluating, model_device
from aeviz.models.families import Autoencoder, sampling_prior
from aeviz.models.priors import Prior

N_POINTS = 2000          # codes and prior draws each: an exact 4000 x 4000 kernel stays < 130 MB
MEDIAN_POINTS = 500      # of each set, for the kernel bandwidth


def aggregate_codes(model: Autoencoder, x: np.ndarray, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
    """(N, D) float64 draws from q(z): one z ~ q(z|x) per image for a VAE, else the codes."""
    x = check_input(model, x)
    gen = torch.Generator(device=model_device(model)).manual_seed(seed)
    out = []
    with evaluating(model):
        for xb in batches(x, batch_size, model_device(model)):
            q = model.encode(xb)
            out.append((q.sample(gen) if model.variational else q).double().cpu())
    return torch.cat(out).numpy()


def mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 between samples a (n, D) and b (m, D), Gaussian kernel, median bandwidth."""
    a, b = torch.as_tensor(np.asarray(a, np.float64)), torch.as_tensor(np.asarray(b, np.float64))
    if a.ndim != 2 or a.shape[1:] != b.shape[1:] or min(len(a), len(b)) < 2:
        raise ConfigError(f"MMD needs two sets of at least 2 points of one width, got {tuple(a.shape)} "
                          f"and {tuple(b.shape)}")
    pooled = torch.cat((a, b))
    d2 = torch.cdist(pooled, pooled).pow(2)                      # (n + m, n + m)
    n = len(a)
    # median heuristic on the first MEDIAN_POINTS of each set: the median of 16 M distances
    # costs ~1 s, of 1 M the same bandwidth to ~1% in ~0.05 s
    part = torch.cat((torch.arange(min(n, MEDIAN_POINTS)), n + torch.arange(min(len(b), MEDIAN_POINTS))))
    sub = d2[part][:, part]
    bandwidth2 = float(sub[~torch.eye(len(part), dtype=torch.bool)].median()) or 1.0   # all equal: any width
    k = torch.exp(-d2 / (2 * bandwidth2))
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    m = len(b)
    return float((kaa.sum() - kaa.trace()) / (n * (n - 1)) + (kbb.sum() - kbb.trace()) / (m * (m - 1))
                 - 2 * kab.mean())


def two_sample_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy telling a from b (equal sizes: 0.5 = alike)."""
    labels = np.r_[np.zeros(len(a), np.int64), np.ones(len(b), np.int64)]
    return knn_accuracy_loo(np.concatenate((a, b)), labels, k=1)


def prior_match(model: Autoencoder, x: np.ndarray, prior: Prior | None = None, *, seed: int = 0,
                n: int = N_POINTS) -> dict[str, float]:
    """``prior_mmd`` and ``prior_1nn_acc`` of the model's q(z) on ``x`` against ``prior``
    (default: the one its samples are drawn from, ``families.sampling_prior``: N(0, I) for an AE)."""
    prior = prior or sampling_prior(model)
    if prior.dim != model.config.latent_dim:
        raise ConfigError(f"the prior has {prior.dim} dimensions, the model's codes {model.config.latent_dim}")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(x), n, replace=False)) if len(x) > n else np.arange(len(x))
    codes = aggregate_codes(model, np.asarray(x)[keep], seed)
    draws = prior.sample_numpy(len(codes), seed).astype(np.float64)
    return {"prior_mmd": mmd2(codes, draws), "prior_1nn_acc": two_sample_accuracy(codes, draws)}
