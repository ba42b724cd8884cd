"""The linear baseline ``pca``: principal components behind the autoencoder interface.

Registered here; ``aeviz/models/__init__.py`` imports this module right after
``families``, so the pickers list it after the learned families it is compared with.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aeviz.models.config import ModelConfig
from aeviz.models.families import Autoencoder, ModelOutput, register
from aeviz.models.priors import Normal, Prior


@register("pca")
class PCAModel(Autoencoder):
    """The linear baseline behind the same interface; fitted, not trained.

    decode() returns the raw linear reconstruction (not clipped), as in the
    PCA numbers of Hinton & Salakhutdinov 2006.
    """
    help = "PCA (linear, fitted in one go)"
    closed_form = True

    def __init__(self, config: ModelConfig):
        nn.Module.__init__(self)
        self.config = config
        d = config.input_size
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("components", torch.zeros(config.latent_dim, d))   # (D, d)
        self.register_buffer("explained_variance", torch.zeros(config.latent_dim))

    @torch.no_grad()
    def fit(self, x: np.ndarray) -> "PCAModel":
        flat = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(len(x), -1))
        mean = flat.mean(0)
        # Economy SVD of the centred data: rows of vh are principal axes.
        _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        k = self.config.latent_dim
        comps = vh[:k]
        comps = comps * torch.sign(comps[:, comps.abs().argmax(1)].diagonal())[:, None]  # fixed signs
        self.mean.copy_(mean.float())
        self.components.copy_(comps.float())
        self.explained_variance.copy_((s[:k] ** 2 / max(1, len(flat) - 1)).float())
        return self

    def prior(self) -> Prior:
        # PCA scores are not unit-variance: probabilistic PCA's Gaussian, scaled per component
        return Normal(self.config.latent_dim, scale=self.explained_variance.sqrt().numpy())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.components.T     # (B, D)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.components + self.mean).view(-1, *self.config.input_shape)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                kl_weight: float = 1.0) -> ModelOutput:
        z = self.encode(x)
        x_hat = self.decode(z)
        recon = (x_hat - x).pow(2).flatten(1).sum(1).mean()
        zero = recon.new_zeros(())
        return ModelOutput(recon, recon, zero, zero, z, x_hat)
