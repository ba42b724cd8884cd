"""The adversarial autoencoder ``aae`` (Makhzani et al. 2015, "Adversarial Autoencoders").

A deterministic AE on the shared backbone plus a small discriminator on codes.
Each batch has the paper's two phases: the trainer's optimiser step on the
reconstruction loss (``forward``), then ``regularise``: the discriminator
learns to tell prior samples from codes, and the encoder learns to fool it, so
the aggregate posterior q(z) is pulled onto the prior p(z) the config names
(``aeviz.models.priors``). With ``prior_by_label`` the discriminator also sees
the class (one-hot) and a class's prior samples come from its own mixture
component: Makhzani's label-conditioned placement.

Registered here; ``aeviz/models/__init__.py`` imports this module.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aeviz.models.config import ModelConfig
from aeviz.models.families import Autoencoder, register
from aeviz.models.priors import Prior, get_prior

HIDDEN = 256                 # discriminator width, two hidden layers (the paper: 1000, 1000)


def _disc_inputs(config: ModelConfig) -> int:
    return config.latent_dim + (config.prior_components if config.prior_by_label else 0)


@register("aae")
class AdversarialAutoencoder(Autoencoder):
    """Codes matched to a chosen prior by an adversarial game; deterministic encoder."""
    help = "adversarial AE (a discriminator matches the codes to a chosen prior)"
    uses = ("prior", "prior_components", "prior_by_label")

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.discriminator = nn.Sequential(
            nn.Linear(_disc_inputs(config), HIDDEN), nn.LeakyReLU(0.2),
            nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1))
        self._prior = get_prior(config.prior, config.latent_dim, config.prior_components)

    @classmethod
    def extra_parameters(cls, config: ModelConfig) -> int:
        return (_disc_inputs(config) + 1) * HIDDEN + (HIDDEN + 1) * HIDDEN + HIDDEN + 1

    def prior(self) -> Prior:
        return self._prior

    @property
    def needs_labels(self) -> bool:
        return self.config.prior_by_label

    def detail(self) -> str:
        c = self.config
        parts = f"{c.prior_components} components" if c.prior == "mixture" else ""
        if c.prior_by_label:
            parts += ", one per class" if parts else "by class"
        return f", {c.prior} prior" + (f" ({parts})" if parts else "")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._prior.project(self.head(self.encoder(x)))          # (B, D) on the prior's set

    def _critic(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Discriminator logits (B,): high for 'drawn from the prior'."""
        if self.config.prior_by_label and labels is not None:
            z = torch.cat((z, F.one_hot(labels.long() % self.config.prior_components,
                                        self.config.prior_components).to(z.dtype)), 1)
        elif self.config.prior_by_label:                     # no labels (evaluation): no class
            z = torch.cat((z, z.new_zeros(len(z), self.config.prior_components)), 1)
        return self.discriminator(z).squeeze(1)

    def regularise(self, x, generator, lr, state, labels=None):
        # optimisers live in the run's state, not in the module (the checkpoint holds weights only)
        if "disc" not in state:
            encoder = [*self.encoder.parameters(), *self.head.parameters()]
            state["disc"] = torch.optim.Adam(self.discriminator.parameters(), betas=(0.5, 0.999))
            state["gen"] = torch.optim.Adam(encoder, betas=(0.5, 0.999))
        for opt in (state["disc"], state["gen"]):          # the trainer's rate and schedule (half: slower, worse fits)
            opt.param_groups[0]["lr"] = lr
        real = self._prior.sample(len(x), generator, labels if self.config.prior_by_label else None)
        real = real.to(x.device)                                          # (B, D); a no-op with the loop's generator
        fake = self.encode(x)                                             # (B, D)
        ones, zeros = x.new_ones(len(x)), x.new_zeros(len(x))
        # discriminator: prior samples -> 1, codes -> 0
        d_loss = F.binary_cross_entropy_with_logits(self._critic(real, labels), ones) + \
            F.binary_cross_entropy_with_logits(self._critic(fake.detach(), labels), zeros)
        state["disc"].zero_grad(set_to_none=True)
        d_loss.backward()
        state["disc"].step()
        # encoder (the generator): make codes look drawn from the prior (non-saturating loss)
        g_loss = F.binary_cross_entropy_with_logits(self._critic(fake, labels), ones)
        state["gen"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.discriminator.zero_grad(set_to_none=True)                    # only the encoder moves
        state["gen"].step()
        return {"disc": d_loss.item(), "gen": g_loss.item()}

