"""A small "judge" classifier per dataset, to score generated samples.

An MLP trained on the dataset's train split (seeded) tells how confidently a
decoded sample looks like some class: real test digits score high, blurry
in-between blobs low. It is trained once and cached under
``cache_dir()/judges/<dataset>.safetensors`` + ``.json`` (never pickle); the
JSON holds a fingerprint of the training data, so a different dataset with
the same name is retrained rather than trusted.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from aeviz.core import files, limits, reading
from aeviz.data.dataset import Dataset
from aeviz.core.errors import AevizError, ConfigError
from aeviz.core.paths import cache_dir, safe_name

FORMAT = "aeviz-judge"
VERSION = 1
HIDDEN = (512, 256)
MAX_STEPS = 3000             # ~6 epochs of MNIST
MIN_EPOCHS = 30              # small sets (1,437 digits: 360 steps) stop after 30 epochs


def default_steps(n: int, batch_size: int = 128) -> int:
    """Optimiser steps for ``n`` training samples: 30 epochs, at most MAX_STEPS."""
    return min(MAX_STEPS, MIN_EPOCHS * math.ceil(n / batch_size))


class JudgeNet(nn.Module):
    """Flatten -> MLP with dropout -> class logits."""

    def __init__(self, input_size: int, num_classes: int, hidden: tuple[int, ...] = HIDDEN):
        super().__init__()
        layers: list[nn.Module] = []
        widths = (input_size, *hidden)
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(0.2)]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))                    # (B, classes) logits


@dataclass
class Judge:
    net: JudgeNet
    info: dict[str, Any] = field(default_factory=dict)   # dataset, test_accuracy, ...

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Class probabilities (N, classes) float64 of images shaped like the train data."""
        x = np.asarray(x, dtype=np.float32)
        size = self.info["input_size"]
        if x.ndim < 2 or math.prod(x.shape[1:]) != size:
            raise ConfigError(f"the {self.info.get('dataset')!r} judge expects samples of "
                              f"{size} values, got an array shaped {x.shape}")
        self.net.eval()
        out = [torch.softmax(self.net(torch.from_numpy(np.array(x[i:i + batch_size]))), 1)
               for i in range(0, len(x), batch_size)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, self.info["num_classes"]))


def fingerprint(data: Dataset) -> str:
    """Hash of the train split (shape, pixels, labels): the cache key's content part."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((data.x_train.shape, data.num_classes)).encode())
    h.update(np.ascontiguousarray(data.x_train).data)
    h.update(np.ascontiguousarray(data.y_train).data)
    return h.hexdigest()


def train_judge(data: Dataset, *, seed: int = 0, hidden: tuple[int, ...] = HIDDEN,
                steps: int | None = None, batch_size: int = 128, lr: float = 1e-3) -> Judge:
    """Train a JudgeNet on ``data``'s train split; report its test accuracy in ``info``."""
    x, y = data.split("train")
    steps = default_steps(len(x), batch_size) if steps is None else steps
    if data.num_classes < 2:
        raise ConfigError(f"dataset {data.name!r} has one class; a judge needs at least two")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = JudgeNet(math.prod(x.shape[1:]), data.num_classes, hidden)
    xt, yt = torch.from_numpy(np.array(x, dtype=np.float32)), torch.from_numpy(np.array(y))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    epochs = max(1, math.ceil(steps * batch_size / len(xt)))
    net.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)                      # dropout masks
        for _ in range(epochs):
            perm = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), batch_size):
                idx = perm[i:i + batch_size]
                loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    judge = Judge(net.eval(), {"format": FORMAT, "version": VERSION, "dataset": data.name,
                               "input_size": math.prod(x.shape[1:]), "num_classes": data.num_classes,
                               "hidden": list(hidden), "seed": seed, "steps": steps, "epochs": epochs})
    x_te, y_te = data.split("test")
    judge.info["test_accuracy"] = float((judge.predict_proba(x_te).argmax(1) == y_te).mean())
    return judge


def judge_paths(name: str) -> tuple[Path, Path]:
    folder = cache_dir() / "judges"
    return folder / f"{safe_name(name)}.safetensors", folder / f"{safe_name(name)}.json"


def load_or_train_judge(data: Dataset, *, seed: int = 0, steps: int | None = None,
                        cache: bool = True) -> Judge:
    """The cached judge for ``data`` when its fingerprint, seed and steps match, else a new one."""
    steps = default_steps(len(data.x_train)) if steps is None else steps
    if not cache:
        return train_judge(data, seed=seed, steps=steps)
    weights, meta = judge_paths(data.name)
    fp = fingerprint(data)
    judge = _load(weights, meta, fp, {"seed": seed, "steps": steps, "hidden": list(HIDDEN),
                                      "input_size": math.prod(data.x_train.shape[1:]),
                                      "num_classes": data.num_classes})
    if judge is None:
        judge = train_judge(data, seed=seed, steps=steps)
        judge.info["fingerprint"] = fp
        files.cache_write("judge classifier", weights.parent, lambda: _save(judge, weights, meta))
    return judge


def _load(weights: Path, meta: Path, fp: str, expected: dict[str, Any]) -> Judge | None:
    """A cached judge, or None when absent, stale or unreadable (then it is retrained).

    Both files go through core.reading: the JSON bounded, the weights bounded by
    what the network needs, whose shape ``expected`` takes from the data, never
    from the file.
    """
    if not (os.path.lexists(weights) and os.path.lexists(meta)):
        return None
    try:
        info = reading.read_json(meta, root=meta.parent, max_bytes=limits.CHECKPOINT_MAX_JSON_BYTES,
                                 what="judge", kind=dict)
        if info.get("format") != FORMAT or info.get("version") != VERSION or \
                info.get("fingerprint") != fp or any(info.get(k) != v for k, v in expected.items()):
            return None
        net = JudgeNet(expected["input_size"], expected["num_classes"], tuple(expected["hidden"]))
        need = sum(t.numel() * t.element_size() for t in net.state_dict().values())
        raw = reading.read_bytes(weights, root=weights.parent, what="judge weights",
                                 max_bytes=8 + limits.CHECKPOINT_MAX_HEADER_BYTES + need)
        net.load_state_dict(load(raw), strict=True)
    except (AevizError, OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError):
        return None
    return Judge(net.eval(), info)


def _save(judge: Judge, weights: Path, meta: Path) -> None:
    """Write weights then JSON, each atomically (the JSON is the commit marker)."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    meta.unlink(missing_ok=True)            # never an old JSON beside new weights
    state = {k: v.contiguous() for k, v in judge.net.state_dict().items()}
    files.write_bytes_atomic(weights, save(state))
    files.write_json_atomic(meta, judge.info)
