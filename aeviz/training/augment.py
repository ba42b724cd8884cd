"""Random image warps applied to training batches: more data for the same labels-free task.

A deep autoencoder with millions of weights memorises MNIST: the 784-1000-500-250-30
net reaches 2.1 squared error per *training* image and 3.9 per *test* image. Small
random rotations, scalings, shifts and smooth elastic warps of each batch close that
gap (the net can no longer learn the exact pixels of 60,000 images), and the model
still reconstructs what it is shown, so the task is unchanged.

Each augmentation maps a batch (B, C, H, W) in [0, 1] to a warped batch of the same
shape, drawing all randomness from the given generator (reproducible per seed).
``strength`` scales every range; 1.0 means rotations up to 8 degrees, scalings up to
8 %, shifts up to 1/28 of the image side and elastic control-point displacements of
1/28 of the side (one pixel on MNIST).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from aeviz.core.errors import ConfigError

Augment = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
AUGMENTS: dict[str, Augment] = {}
MAX_DEGREES, MAX_SCALE, MAX_SHIFT, ELASTIC_STD = 8.0, 0.08, 1 / 28, 1 / 28
ELASTIC_GRID = 4          # control points per side of the smooth displacement field


def register(name: str):
    def add(fn: Augment) -> Augment:
        AUGMENTS[name] = fn
        return fn
    return add


def _uniform(shape: tuple[int, ...], gen: torch.Generator, half_width: float) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, device=gen.device) * 2 - 1) * half_width


def _affine_grid(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Sampling grid (B, H, W, 2) of a random rotation, scaling and shift per image."""
    b = x.shape[0]
    angle = _uniform((b,), gen, strength * MAX_DEGREES * math.pi / 180)
    scale = 1 + _uniform((b,), gen, strength * MAX_SCALE)
    shift = _uniform((b, 2), gen, strength * MAX_SHIFT * 2)          # grid coords span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack((torch.stack((cos, -sin, shift[:, 0]), 1),
                         torch.stack((sin, cos, shift[:, 1]), 1)), 1)   # (B, 2, 3)
    return F.affine_grid(theta, list(x.shape), align_corners=False)


def _sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    # zeros outside the image: the background of MNIST-like data is 0
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@register("none")
def no_augment(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    return x


@register("affine")
def affine(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    return _sample(x, _affine_grid(x, strength, gen))


@register("elastic")
def elastic(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Affine warp plus a smooth displacement field (bicubic from a 4x4 random grid)."""
    b, _, h, w = x.shape
    coarse = torch.randn((b, 2, ELASTIC_GRID, ELASTIC_GRID), generator=gen, device=gen.device)
    field = F.interpolate(coarse * (strength * ELASTIC_STD * 2), size=(h, w), mode="bicubic",
                          align_corners=False)                          # (B, 2, H, W)
    return _sample(x, _affine_grid(x, strength, gen) + field.permute(0, 2, 3, 1))


def get_augment(name: str, input_shape: tuple[int, ...]) -> Augment:
    """The augmentation ``name`` for inputs of ``input_shape``; refuses warps of vectors."""
    try:
        fn = AUGMENTS[name]
    except KeyError:
        raise ConfigError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTS)}") from None
    if fn is not no_augment and (len(input_shape) != 3 or min(input_shape[1:]) < 4):
        raise ConfigError(f"augmentation {name!r} warps images, but the inputs have shape "
                          f"{tuple(input_shape)}: use augment 'none' for vectors and tables")
    return fn
