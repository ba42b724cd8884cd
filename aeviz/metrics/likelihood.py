"""Reconstruction and likelihood metrics of any model family, on numpy arrays.

Every function puts the model in eval mode (restoring its mode afterwards),
runs batched under ``torch.no_grad`` and draws randomness from an explicit
seed. Images are float32 in [0, 1], shaped like the model's input.

Units: ``sse_per_image`` is Hinton & Salakhutdinov's (2006) sum of squared
pixel errors per image; VAE likelihoods are in nats per image (bernoulli
likelihood; for the gaussian likelihood the constant of the density is
dropped, as in training, so they are nats up to a constant).
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import numpy as np
import torch

from aeviz.core.errors import ConfigError
from aeviz.models.families import Autoencoder, reconstruction_nll

DEFAULT_BATCH = 1000
IWAE_MAX_ROWS = 16384      # decoder rows per IWAE chunk: ~50 MB of 784-pixel logits
LOG_2PI = math.log(2 * math.pi)


@contextlib.contextmanager
def evaluating(model: Autoencoder):
    """Eval mode inside the block, the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def model_device(model: Autoencoder) -> torch.device:
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def batches(x: np.ndarray, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Float32 tensors of ``batch_size`` rows (copies, so read-only arrays are fine)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, len(x), batch_size):
        yield torch.from_numpy(np.array(x[i:i + batch_size], dtype=np.float32)).to(device)


def check_input(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """``x`` as (N, *input_shape) or a clear error."""
    x = np.asarray(x)
    shape = tuple(model.config.input_shape)
    if x.ndim == 2 and x.shape[1] == model.config.input_size:
        x = x.reshape(len(x), *shape)
    if tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ConfigError(f"the model expects a non-empty array of samples shaped {shape}, got "
                          f"{x.shape}; evaluate it on the dataset it was trained on")
    return x


def require_vae(model: Autoencoder, what: str) -> None:
    if not model.config.is_variational:
        raise ConfigError(f"{what} needs a VAE (a posterior q(z|x)); this model is a "
                          f"{model.config.family!r}. Use reconstruction metrics instead.")


# ---------------------------------------------------------------- reconstruction
def reconstruction_errors(model: Autoencoder, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Sum of squared pixel errors per image, (N,) float64, deterministic codes.

    The reconstruction is ``decode(codes(x))``: a VAE's posterior mean, PCA's
    raw (unclipped) linear reconstruction.
    """
    x = check_input(model, x)
    out = []
    with evaluating(model):
        for xb in batches(x, batch_size, model_device(model)):
            x_hat = model.decode(model.codes(xb))
            out.append((x_hat - xb).double().pow(2).flatten(1).sum(1).cpu())
    return torch.cat(out).numpy()


def sse_per_image(model: Autoencoder, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> float:
    """Mean over images of the summed squared pixel error (pixels in [0, 1])."""
    return float(reconstruction_errors(model, x, batch_size).mean())


def mse_per_pixel(model: Autoencoder, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> float:
    return sse_per_image(model, x, batch_size) / model.config.input_size


def recon_nll(model: Autoencoder, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> float:
    """Mean reconstruction NLL per image under the model's likelihood, deterministic code."""
    x = check_input(model, x)
    total = 0.0
    with evaluating(model):
        for xb in batches(x, batch_size, model_device(model)):
            logits = model.decoder(model.codes(xb))
            total += reconstruction_nll(logits, xb, model.config.likelihood).double().sum().item()
    return total / len(x)


# ---------------------------------------------------------------- VAE likelihood
def elbo_terms(model: Autoencoder, x: np.ndarray, *, seed: int = 0,
               batch_size: int = DEFAULT_BATCH) -> dict[str, float]:
    """One-sample Monte-Carlo ELBO per image: neg_elbo = recon_nll_sampled + kl (nats).

    The KL term is analytic; the reconstruction term uses one seeded sample
    z ~ q(z|x) per image.
    """
    require_vae(model, "the ELBO")
    x = check_input(model, x)
    device = model_device(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    recon = kl_sum = 0.0
    with evaluating(model):
        for xb in batches(x, batch_size, device):
            q = model.encode(xb)
            logits = model.decoder(q.sample(gen))
            recon += reconstruction_nll(logits, xb, model.config.likelihood).double().sum().item()
            kl_sum += q.kl().double().sum().item()
    n = len(x)
    return {"neg_elbo": (recon + kl_sum) / n, "recon_nll_sampled": recon / n, "kl": kl_sum / n}


def neg_elbo(model: Autoencoder, x: np.ndarray, *, seed: int = 0, batch_size: int = DEFAULT_BATCH) -> float:
    return elbo_terms(model, x, seed=seed, batch_size=batch_size)["neg_elbo"]


def kl(model: Autoencoder, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> float:
    """Mean analytic KL(q(z|x) || N(0, I)) per image, nats."""
    require_vae(model, "the KL term")
    x = check_input(model, x)
    total = 0.0
    with evaluating(model):
        for xb in batches(x, batch_size, model_device(model)):
            total += model.encode(xb).kl().double().sum().item()
    return total / len(x)


def iwae_log_weights(model: Autoencoder, xb: torch.Tensor, k: int, gen: torch.Generator,
                     max_rows: int = IWAE_MAX_ROWS) -> torch.Tensor:
    """log sum_k w_k for one batch, (B,) float64, w = p(x|z) p(z) / q(z|x), z ~ q.

    Samples are drawn ``max_rows // B`` at a time and folded in with
    logaddexp, so memory stays bounded whatever k is.
    """
    q = model.encode(xb)
    b, d = q.mean.shape
    std = q.std
    acc = torch.full((b,), -math.inf, dtype=torch.float64, device=xb.device)
    chunk = max(1, max_rows // b)
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        eps = torch.randn((c, b, d), generator=gen, device=xb.device)
        z = q.mean + eps * std                                           # (c, B, D)
        logits = model.decoder(z.reshape(c * b, d))                      # (c*B, *shape)
        target = xb.unsqueeze(0).expand(c, *xb.shape).reshape(c * b, *xb.shape[1:])
        log_px = -reconstruction_nll(logits, target, model.config.likelihood).view(c, b)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(2)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + q.logvar).sum(2)
        acc = torch.logaddexp(acc, torch.logsumexp((log_px + log_pz - log_qz).double(), 0))
    return acc


def iwae_nll(model: Autoencoder, x: np.ndarray, k: int = 5000, *, seed: int = 0,
             batch_size: int = 100, max_rows: int = IWAE_MAX_ROWS, per_image: bool = False):
    """Importance-weighted estimate of -log p(x) (Burda et al. 2016), nats per image.

    -log (1/k sum_i p(x, z_i) / q(z_i|x)), z_i ~ q(z|x): an upper bound on the
    NLL that tightens as k grows (k=1 is the one-sample ELBO). Returns the mean
    (or the (N,) array with ``per_image=True``).
    """
    require_vae(model, "the IWAE bound")
    if not 1 <= k <= 1_000_000:
        raise ConfigError(f"iwae k must be in 1..1000000, got {k}")
    x = check_input(model, x)
    device = model_device(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    with evaluating(model):
        for xb in batches(x, batch_size, device):
            out.append((math.log(k) - iwae_log_weights(model, xb, k, gen, max_rows)).cpu())
    nll = torch.cat(out).numpy()
    return nll if per_image else float(nll.mean())


# ---------------------------------------------------------------- codes
def code_variances(model: Autoencoder, x: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Variance over x of each deterministic code dimension (E_q[z] for a VAE): (D,)."""
    codes = model.encode_numpy(check_input(model, x), batch_size).astype(np.float64)
    return codes.var(0)


def active_units(model: Autoencoder, x: np.ndarray, threshold: float = 0.01,
                 batch_size: int = DEFAULT_BATCH) -> int:
    """Burda et al.'s count of dimensions with Cov_x(E_q[z]) > threshold.

    For a deterministic AE the same count is taken on its codes; their scale
    is arbitrary, so read it together with ``code_variances``.
    """
    return int((code_variances(model, x, batch_size) > threshold).sum())
