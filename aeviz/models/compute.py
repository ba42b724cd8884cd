"""Compute estimates: FLOPs per sample of a model, this machine's speed, and the wall time of a job."""
from __future__ import annotations

import functools
import math
import threading
import time
from typing import Callable

import torch
from torch import nn

from aeviz.core.errors import ConfigError
from aeviz.models.config import ModelConfig

# A training step is a forward pass plus a backward pass costing about twice the forward
# (gradients of the inputs and of the weights), so ~3x the forward FLOPs per sample.
TRAIN_FACTOR = 3

_bench_lock = threading.Lock()
_bench: dict[str, float] = {}               # "flops_per_second" once measured in this process


def flops_per_sample(model_or_config: nn.Module | ModelConfig, training: bool = False) -> float:
    """FLOPs (2 per multiply-add) to encode and decode one sample; ``training``: x TRAIN_FACTOR.

    Counted by running a copy of the model built on the meta device (shapes only, no
    memory however large it is) with a hook on every Linear / Conv / ConvTranspose layer.
    """
    config = getattr(model_or_config, "config", model_or_config)
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"cannot estimate the compute of {type(model_or_config).__name__}: "
                          "pass an aeviz model or its ModelConfig")
    return 2.0 * _forward_macs(config) * (TRAIN_FACTOR if training else 1)


@functools.lru_cache(maxsize=256)
def _forward_macs(config: ModelConfig) -> int:
    from aeviz.models.families import build        # late: families imports the backbones
    if config.family_class.closed_form:            # PCA: two (d, D) matmuls, no layers
        return 2 * config.input_size * config.latent_dim
    with torch.device("meta"):
        model = build(config).eval()
        x = torch.empty((1, *config.input_shape))
    with torch.no_grad():
        return count_macs(model, lambda: model.decode(model.codes(x)))   # (1, D) -> (1, *shape)


def _layer_macs(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(layer, nn.Linear):
        return output.numel() * layer.in_features
    kernel = math.prod(layer.kernel_size)
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):     # each input value meets the kernel
        return inputs[0].numel() * layer.out_channels // layer.groups * kernel
    return output.numel() * layer.in_channels // layer.groups * kernel


def count_macs(module: nn.Module, run: Callable[[], object]) -> int:
    """Multiply-adds of the Linear / Conv / ConvTranspose layers of ``module`` during ``run()``."""
    total = [0]

    def hook(layer, inputs, output):
        total[0] += _layer_macs(layer, inputs, output)

    kinds = (nn.Linear, nn.modules.conv._ConvNd)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def machine_flops_per_second() -> float:
    """FLOPs per second of one thread of this machine on model-like work (measured once, cached).

    A seeded conv + transposed conv + linear layer, forward and backward (counted as
    TRAIN_FACTOR x the forward), timed twice, the faster counting: ~30 ms once per process.
    """
    with _bench_lock:
        if "flops_per_second" not in _bench:
            _bench["flops_per_second"] = _measure_in_one_thread()
        return _bench["flops_per_second"]


def _measure_in_one_thread() -> float:
    """Run the benchmark in its own thread set to one torch thread, then restore the setting.

    ``torch.set_num_threads`` also sets what threads created later start with, so the
    benchmark thread puts the previous value back before it ends.
    """
    out: list[float] = []

    def work() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            out.append(_benchmark())
        finally:
            torch.set_num_threads(before)

    worker = threading.Thread(target=work, name="aeviz-flops-benchmark", daemon=True)
    worker.start()
    worker.join()
    if not out:
        raise ConfigError("could not measure this machine's speed (the benchmark failed)")
    return out[0]


def _benchmark() -> float:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((32, 16, 14, 14), generator=gen)                            # (B, C, H, W)
    net = nn.ModuleList([nn.Conv2d(16, 32, 4, 2, 1), nn.ConvTranspose2d(32, 16, 4, 2, 1),
                         nn.Linear(32 * 7 * 7, 256)])
    conv, up, fc = net

    def step() -> None:
        h = torch.relu(conv(x))                                                 # (B, 32, 7, 7)
        loss = up(h).square().mean() + fc(h.flatten(1)).square().mean()
        loss.backward()

    flops = 2.0 * TRAIN_FACTOR * count_macs(net, step)                         # also a warm-up
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return flops / max(best, 1e-6)


def warm() -> None:
    """Pay this process's one-time costs now: the first count on the meta device makes torch
    import its meta kernels (~2 s, once) and the speed is measured. The app calls it in a
    background thread at start, so no request waits on either."""
    flops_per_sample(ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(8,), latent_dim=2))
    machine_flops_per_second()


def estimate_seconds(flops_per_sample: float, samples: float, threads: int = 1) -> float:
    """Wall time of ``samples`` passes of ``flops_per_sample`` on ``threads`` of this machine."""
    return flops_per_sample * samples / (machine_flops_per_second() * max(1, threads))


def duration(seconds: float) -> str:
    """'45 s', '12 min', '6.6 h' or '21 days': a rough time for a message."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def check_budget(flops: float, samples: float, limit_seconds: float, work: str, advice: str) -> float:
    """Estimated seconds of ``samples`` x ``flops`` (per sample); ConfigError over the limit.

    ``work`` names the samples ("30 epochs x 60,000 images"), ``advice`` what to do instead.
    """
    seconds = estimate_seconds(flops, samples)
    if seconds > limit_seconds:
        raise ConfigError(f"this model needs about {flops / 1e9:.2g} GFLOP per image; {work} ≈ "
                          f"{duration(seconds)} on this server; the limit is {duration(limit_seconds)}: "
                          f"{advice}")
    return seconds
