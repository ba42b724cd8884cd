"""The contractive autoencoder ``cae`` (Rifai et al. 2011, "Contractive Auto-Encoders").

A deterministic AE on the shared backbone whose loss adds
``contraction * ||J_f(x)||_F^2``, the squared Frobenius norm of the encoder
Jacobian dz/dx, averaged over the batch: codes that move little when the
input moves off the data.

Registered here; ``aeviz/models/__init__.py`` imports this module, so
``MODELS["cae"]`` exists wherever the registry does.
"""
from __future__ import annotations

import torch

from aeviz.models.families import Autoencoder, ModelOutput, reconstruction_nll, register


def jacobian_sq_norm(z: torch.Tensor, x: torch.Tensor, probes: int,
                     generator: torch.Generator | None = None, create_graph: bool = True) -> torch.Tensor:
    """||dz_b/dx_b||_F^2 per item, (B,), from vector-Jacobian products.

    z (B, D) must be computed from x (B, ...) item by item (no batch coupling).
    With D <= probes the D unit vectors of code space give the exact norm;
    otherwise ``probes`` directions v, a random orthonormal frame V (D, k) per
    item drawn from ``generator``, give an unbiased estimate, since
    E[V V^T] = (k / D) I and so E[||V^T J||_F^2] * D / k = ||J||_F^2.
    """
    b, d = z.shape
    if d <= probes:
        frames = torch.eye(d, device=z.device, dtype=z.dtype).expand(b, d, d)      # (B, D, D): exact
    else:
        g = torch.randn((b, d, probes), generator=generator, device=z.device, dtype=z.dtype)
        frames = torch.linalg.qr(g).Q                                               # (B, D, k)
    k = frames.shape[2]
    total = z.new_zeros(b)
    for i in range(k):
        (vjp,) = torch.autograd.grad(z, x, frames[:, :, i], create_graph=create_graph, retain_graph=True)
        total = total + vjp.pow(2).flatten(1).sum(1)                                 # (B,)
    return total * (d / k)


@register("cae")
class ContractiveAutoencoder(Autoencoder):
    """Penalises the encoder Jacobian: exact for latent_dim <= ``probes``, else a
    random-projection (Hutchinson-style) estimate with ``probes`` VJPs per step.

    Training draws the directions from the loop's seeded generator; without a
    generator (test loss, evaluation) a fixed seed keeps the number repeatable.
    """
    help = "contractive AE (penalises the encoder Jacobian)"
    uses = ("contraction",)
    probes = 2              # VJPs per batch: exact for 1-2-D codes, an unbiased estimate above

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                kl_weight: float = 1.0) -> ModelOutput:
        track = torch.is_grad_enabled()          # False under no_grad: the penalty is only a number
        if generator is None:
            generator = torch.Generator(device=x.device).manual_seed(0)
        with torch.enable_grad():                # the Jacobian needs autograd even in evaluation
            x_in = x if x.requires_grad else x.detach().requires_grad_(True)
            z = self.encode(x_in)                                                   # (B, D)
            jac = jacobian_sq_norm(z, x_in, self.probes, generator, create_graph=track)
        if not track:
            z, jac = z.detach(), jac.detach()
        logits = self.decoder(z)
        recon = reconstruction_nll(logits, x, self.config.likelihood).mean()
        penalty = self.config.contraction * jac.mean()
        return ModelOutput(recon + penalty, recon, recon.new_zeros(()), penalty, z, torch.sigmoid(logits))
