"""Encoder/decoder bodies shared by every model family, so comparisons are fair.

An encoder maps x (B, *input_shape) to features (B, F); a decoder maps a code
(B, D) to logits (B, *input_shape). Heads on top of the features are the
family's business (models.py).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from aeviz.models.config import ModelConfig


def _mlp(widths: tuple[int, ...], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.net = _mlp((config.input_size, *config.hidden), last_activation=True)
        self.out_features = config.hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))                    # (B, hidden[-1])


class MLPDecoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        widths = (config.latent_dim, *reversed(config.hidden), config.input_size)
        self.net = _mlp(widths, last_activation=False)
        self.shape = config.input_shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)         # logits (B, *input_shape)


def _spatial_sizes(h: int, w: int, layers: int) -> list[tuple[int, int]]:
    """Feature-map sizes after each stride-2 conv (kernel 4, padding 1)."""
    sizes = [(h, w)]
    for _ in range(layers):
        h, w = max(1, h // 2), max(1, w // 2)
        sizes.append((h, w))
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 convolutions, then flatten: (B, C, H, W) -> (B, c_last * h * w)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c, h, w = config.input_shape
        chans = (c, *config.hidden)
        self.sizes = _spatial_sizes(h, w, len(config.hidden))
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.Conv2d(a, b, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.out_features = chans[-1] * math.prod(self.sizes[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ConvDecoder(nn.Module):
    """Linear to the smallest feature map, then transposed convs back to (C, H, W)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c, h, w = config.input_shape
        chans = (c, *config.hidden)
        sizes = _spatial_sizes(h, w, len(config.hidden))
        self.start = (chans[-1], *sizes[-1])
        self.fc = nn.Sequential(nn.Linear(config.latent_dim, math.prod(self.start)), nn.ReLU())
        layers: list[nn.Module] = []
        for i in range(len(config.hidden), 0, -1):
            (hi, wi), (ho, wo) = sizes[i], sizes[i - 1]
            # ConvTranspose2d(k=4, s=2, p=1) doubles; output_padding fixes odd sizes.
            pad = (ho - 2 * hi, wo - 2 * wi)
            if not all(0 <= p <= 1 for p in pad):
                raise ValueError(f"cannot decode to {(h, w)} with {len(config.hidden)} conv layers")
            layers.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1, output_padding=pad))
            if i > 1:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, *self.start))   # logits (B, C, H, W)


class LinearEncoder(nn.Module):
    """No hidden layer: the family's head is the whole (affine) encoder."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.out_features = config.input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)                              # (B, input_size)


class LinearDecoder(nn.Module):
    """One affine map from code to logits: with sigmoid outputs and the Bernoulli
    likelihood this is logistic PCA (Schein et al. 2003) with a linear encoder."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.net = nn.Linear(config.latent_dim, config.input_size)
        self.shape = config.input_shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)         # logits (B, *input_shape)


BACKBONES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "mlp": (MLPEncoder, MLPDecoder),
    "conv": (ConvEncoder, ConvDecoder),
    "linear": (LinearEncoder, LinearDecoder),
}
