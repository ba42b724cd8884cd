"""One plain training loop: in-memory batches, Adam, seeded, cancellable.

Data already in memory is sliced with a seeded permutation per epoch instead
of going through a per-sample DataLoader (see benchmarks/train_speed.py).
Progress goes to plain callbacks so the app can draw it without aeviz
importing Streamlit.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import torch

from aeviz.training.augment import get_augment
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core.errors import ConfigError, TrainingDiverged
from aeviz.models.checkpoint import Checkpoint
from aeviz.models.families import Autoencoder, build
from aeviz.models.linear import PCAModel

StepCallback = Callable[[int, dict[str, float]], None]     # (global step, batch metrics)
EpochCallback = Callable[[int, dict[str, float]], None]    # (epoch, epoch metrics)


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class TrainResult:
    model: Autoencoder
    history: list[dict[str, float]] = field(default_factory=list)   # one row per epoch
    cancelled: bool = False
    seconds: float = 0.0


def to_tensor(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """float32 tensor of ``x``; copies read-only arrays (shared dataset caches) instead of
    aliasing memory torch could write to."""
    arr = np.asarray(x, dtype=np.float32)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr, dtype=np.float32, order="C")
    return torch.from_numpy(arr).to(device)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``None`` -> the default; "cpu" / "cuda[:i]" checked, anything else a ConfigError."""
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {str(device)[:40]!r}: use 'cpu' or 'cuda'")
    if dev.type == "cuda" and not (torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()):
        raise ConfigError(f"device {str(device)[:40]!r} is not available on this machine; use 'cpu'")
    return dev


# The global torch RNG is shared by every thread; app sessions train in parallel threads.
_SEED_LOCK = threading.Lock()


def seeded_model(config: ModelConfig, seed: int) -> Autoencoder:
    """Build a model whose initial weights depend only on (config, seed), thread-safely."""
    with _SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(config)


# learning-rate factor at a fraction of the run (0 at the first step, -> 1 at the end)
LR_SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda progress: 1.0,
    "cosine": lambda progress: 0.5 * (1 + math.cos(math.pi * progress)),
}


def pca_baseline(data, latent_dim: int) -> Checkpoint:
    """PCA with ``latent_dim`` components fitted on ``data``'s train split: the linear baseline."""
    if not 1 <= latent_dim <= data.x_train[0].size:
        raise ConfigError(f"cannot fit PCA with {latent_dim} components to {data.x_train[0].size}-value "
                          "samples; choose 1 to the number of values per sample")
    config = ModelConfig(family="pca", input_shape=tuple(data.sample_shape), latent_dim=latent_dim)
    stage = TrainConfig(epochs=1)
    model = train(config, stage, data.x_train, device="cpu").model.eval()
    return Checkpoint.of(model, (stage,), data.name, f"PCA, {latent_dim} components")


def kl_weight(epoch: int, warmup_epochs: int, steps_done: float = 0.0) -> float:
    """Linear KL warm-up from ~0 to 1 over ``warmup_epochs`` (fractional epochs)."""
    if warmup_epochs <= 0:
        return 1.0
    return min(1.0, (epoch + steps_done) / warmup_epochs)


def train(config: ModelConfig, train_cfg: TrainConfig, x_train: np.ndarray,
          x_test: np.ndarray | None = None, *, device: torch.device | str | None = None,
          on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None,
          cancel: CancelFlag | None = None, model: Autoencoder | None = None,
          y_train: np.ndarray | None = None) -> TrainResult:
    """Train ``config`` on ``x_train`` (float32 in [0, 1], (N, *input_shape)).

    ``y_train`` (N,) integer labels, for a family that uses them (an AAE with
    ``prior_by_label``); each step ends with the family's ``regularise`` phase.

    Raises TrainingDiverged on a NaN/inf loss; ``error.model`` then holds the
    weights of the last epoch that finished cleanly.
    """
    start = time.perf_counter()
    device = resolve_device(device)
    model = (model or seeded_model(config, train_cfg.seed)).to(device)
    if isinstance(model, PCAModel):
        model.fit(x_train)
        history = [_evaluate_epoch(model, 0, x_train, x_test, device, train_cfg)]
        return TrainResult(model, history, False, time.perf_counter() - start)
    xt = to_tensor(x_train, device)                                   # one copy, (N, *shape)
    yt = _labels(model, y_train, len(xt), device)                     # (N,) or None
    phase: dict = {}                                                  # the regularise phase's state
    gen = torch.Generator(device=device).manual_seed(train_cfg.seed)
    cpu_gen = torch.Generator().manual_seed(train_cfg.seed + 1)       # batch order
    # fused Adam: one kernel for all parameters instead of a Python loop per tensor
    # (~25% of a CPU step for MLPs on MNIST; see benchmarks/train_speed.py).
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                           fused=True)
    augment = get_augment(train_cfg.augment, config.input_shape)
    lr_at = LR_SCHEDULES[train_cfg.lr_schedule]
    n_batches = math.ceil(len(xt) / train_cfg.batch_size)
    total_steps = n_batches * train_cfg.epochs
    good = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    step = 0
    for epoch in range(train_cfg.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=cpu_gen).to(device)
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
        for b in range(n_batches):
            if cancel is not None and cancel.is_set():
                model.load_state_dict(good)
                return TrainResult(model.eval(), history, True, time.perf_counter() - start)
            rows = perm[b * train_cfg.batch_size:(b + 1) * train_cfg.batch_size]
            xb = xt[rows]
            xb = augment(xb, train_cfg.augment_strength, gen)          # "none" returns xb itself
            if train_cfg.binarize:
                xb = torch.bernoulli(xb, generator=gen)
            w = kl_weight(epoch, train_cfg.kl_warmup_epochs, b / n_batches)
            out = model(xb, generator=gen, kl_weight=w)
            # one tensor -> list conversion per step instead of an isfinite op and three item()s
            loss, recon, kl = torch.stack((out.loss.detach(), out.recon.detach(), out.kl.detach())).tolist()
            if not math.isfinite(loss):
                model.load_state_dict(good)
                model.eval()
                err = TrainingDiverged(
                    f"training diverged: the loss became {loss} at epoch {epoch + 1}, "
                    f"step {step + 1}. The model keeps the weights of the last good epoch "
                    f"({epoch}). Lower the learning rate (now {train_cfg.lr:g}), set a gradient "
                    "clip, or use the Bernoulli likelihood for data in [0, 1].", epoch, step)
                err.model, err.history = model, history
                raise err
            opt.param_groups[0]["lr"] = train_cfg.lr * lr_at(step / total_steps)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            if train_cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
            opt.step()
            metrics = {"loss": loss, "recon": recon, "kl": kl,
                       **model.regularise(xb, gen, opt.param_groups[0]["lr"], phase,
                                          None if yt is None else yt[rows])}
            step += 1
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v * len(xb)
            if on_step:
                on_step(step, metrics)
        row = {"epoch": epoch + 1, **{f"train_{k}": v / len(xt) for k, v in sums.items()}}
        row.update(_test_metrics(model, x_test, device))
        row["lr"] = opt.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        good = copy.deepcopy(model.state_dict())
        if on_epoch:
            on_epoch(epoch + 1, row)
    return TrainResult(model.eval(), history, False, time.perf_counter() - start)


def _labels(model: Autoencoder, y: np.ndarray | None, n: int, device) -> torch.Tensor | None:
    if not model.needs_labels:
        return None
    if y is None or len(y) != n:
        raise ConfigError(f"this {model.config.family} model is trained with labels (e.g. prior_by_label "
                          "places each class on its own prior component), so training needs one label "
                          "per sample; use a labelled dataset or turn the flag off")
    return torch.tensor(np.asarray(y, dtype=np.int64), device=device)       # a copy: y may be read-only


@torch.no_grad()
def _test_metrics(model: Autoencoder, x: np.ndarray | None, device, batch_size: int = 2048) -> dict:
    """Mean test loss parts in eval mode (VAE: z = posterior mean)."""
    if x is None or len(x) == 0:
        return {}
    model.eval()
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    for i in range(0, len(x), batch_size):
        xb = to_tensor(x[i:i + batch_size], device)
        out = model(xb)
        for k in sums:
            sums[k] += getattr(out, k).item() * len(xb)
    return {f"test_{k}": v / len(x) for k, v in sums.items()}


def _evaluate_epoch(model, epoch, x_train, x_test, device, cfg) -> dict[str, float]:
    row = {"epoch": epoch}
    row.update({k.replace("test_", "train_"): v for k, v in _test_metrics(model, x_train, device).items()})
    row.update(_test_metrics(model, x_test, device))
    return row
