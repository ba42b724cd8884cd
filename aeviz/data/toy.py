"""Toy manifolds (swiss roll, S-curve, moons, circles) as small vector datasets.

Each is drawn once from a fixed seed (2,000 train + 500 test points), then
shifted and scaled into [0, 1] with the *training* minimum and one common scale
for every axis, so the shape is not stretched; test points are clipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn import datasets as skd

N_TRAIN, N_TEST, SEED = 2_000, 500, 0
N_BINS = 6      # 3-D manifolds: position along the manifold binned into this many classes

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]   # x_train, y_train, x_test, y_test


@dataclass(frozen=True)
class ToySpec:
    description: str
    class_names: tuple[str, ...]
    sample: Callable[[int, int], tuple[np.ndarray, np.ndarray]]   # (n, seed) -> (x (n, D), y (n,))


def _binned(make: Callable, lo: float, hi: float, noise: float):
    """Label = which of N_BINS equal stretches of [lo, hi] the manifold coordinate t falls in."""
    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        x, t = make(n, noise=noise, random_state=seed)
        edges = np.linspace(lo, hi, N_BINS + 1)[1:-1]
        return x, np.digitize(t, edges).astype(np.int64)
    return sample


def _labelled(make: Callable, **kwargs):
    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = make(n, random_state=seed, **kwargs)
        return x, y.astype(np.int64)
    return sample


_BINS = tuple(f"part {i + 1}/{N_BINS}" for i in range(N_BINS))
TOYS: dict[str, ToySpec] = {
    "swiss-roll": ToySpec("3-D swiss roll; classes = position along the roll in 6 parts", _BINS,
                          _binned(skd.make_swiss_roll, 1.5 * np.pi, 4.5 * np.pi, 0.05)),
    "s-curve": ToySpec("3-D S-curve; classes = position along the curve in 6 parts", _BINS,
                       _binned(skd.make_s_curve, -1.5 * np.pi, 1.5 * np.pi, 0.05)),
    "moons": ToySpec("2-D two interleaving half-moons", ("upper moon", "lower moon"),
                     _labelled(skd.make_moons, noise=0.05)),
    "circles": ToySpec("2-D two concentric circles", ("outer circle", "inner circle"),
                       _labelled(skd.make_circles, noise=0.03, factor=0.5)),
}


def make_toy(name: str, n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = SEED) -> Arrays:
    """Draw ``name`` (a key of TOYS); x float32 (N, D) in [0, 1], y int64 (N,)."""
    x, y = TOYS[name].sample(n_train + n_test, seed)
    x_train, x_test = x[:n_train], x[n_train:]
    lo = x_train.min(axis=0)
    scale = float((x_train.max(axis=0) - lo).max())   # one scale for all axes keeps the shape
    x_train, x_test = [np.clip((a - lo) / scale, 0.0, 1.0).astype(np.float32)
                       for a in (x_train, x_test)]
    return (np.ascontiguousarray(x_train), y[:n_train].copy(),
            np.ascontiguousarray(x_test), y[n_train:].copy())
