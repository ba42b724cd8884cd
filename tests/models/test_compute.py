"""Compute estimates: FLOPs counted per layer, this machine's speed, and the app's training budget."""
import threading

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from aeviz.core import limits
from aeviz.core.errors import ConfigError
from aeviz.models import compute
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.models.families import build
from aeviz.training import jobs as tj

SMALL = ModelConfig(family="ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(16,))


def test_conv_flops_exceed_the_mlps_by_the_counted_multiply_adds():
    mlp = compute.flops_per_sample(SMALL)
    conv = compute.flops_per_sample(SMALL.replace(backbone="conv", hidden=(4,)))
    # mlp: 64*16 + 16*2 (head) + 2*16 + 16*64 = 2112 multiply-adds
    # conv: Conv2d 1->4, k4 s2 on 8x8 -> 4x4: 64 outputs * 16 = 1024; head 64*2; fc 2*64;
    #       ConvTranspose2d 4->1: 64 inputs * 16 = 1024  ->  2304 multiply-adds
    assert (mlp, conv) == (2 * 2112, 2 * 2304)
    assert conv / mlp == pytest.approx(2304 / 2112)
    assert compute.flops_per_sample(SMALL, training=True) == compute.TRAIN_FACTOR * mlp


@pytest.mark.parametrize("config", [
    ModelConfig(family="vae", backbone="conv", input_shape=(1, 28, 28), hidden=(32, 64), latent_dim=2),
    ModelConfig(family="ae", backbone="conv", input_shape=(3, 15, 15), hidden=(8, 8, 8), latent_dim=3),
    ModelConfig(family="vae", input_shape=(1, 28, 28)),
    ModelConfig(family="ae", backbone="linear", hidden=(), input_shape=(1, 8, 8)),
])
def test_the_count_agrees_with_torchs_flop_counter_on_the_real_model(config):
    model = build(config).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.decode(model.codes(torch.zeros((1, *config.input_shape))))
    assert compute.flops_per_sample(model) == counter.get_total_flops() > 0


def test_a_large_model_is_counted_on_the_meta_device():
    wide = ModelConfig(family="ae", input_shape=(3, 64, 64), hidden=(1024,), latent_dim=8)   # 25 M
    assert compute.flops_per_sample(wide) == 2 * 2 * (3 * 64 * 64 * 1024 + 1024 * 8)


def test_estimates_grow_with_compute_and_samples_and_shrink_with_threads():
    speed = compute.machine_flops_per_second()
    assert speed > 1e7 and compute.machine_flops_per_second() == speed        # measured once
    one = compute.estimate_seconds(1e6, 1000)
    assert one == pytest.approx(1e9 / speed)
    assert compute.estimate_seconds(2e6, 1000) == pytest.approx(2 * one)
    assert compute.estimate_seconds(1e6, 3000) == pytest.approx(3 * one)
    assert compute.estimate_seconds(1e6, 1000, threads=2) == pytest.approx(one / 2)
    mlp, conv = SMALL, SMALL.replace(backbone="conv", hidden=(32, 64))
    assert compute.estimate_seconds(compute.flops_per_sample(conv), 10) > \
        compute.estimate_seconds(compute.flops_per_sample(mlp), 10)


def test_the_benchmark_leaves_the_thread_setting_as_it_was(monkeypatch):
    monkeypatch.setattr(compute, "_bench", {})
    torch.set_num_threads(2)
    assert compute.machine_flops_per_second() > 0
    seen = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert seen == [2] and torch.get_num_threads() == 2


# The case: a conv model inside every older app limit that costs days of one slot.
HUGE = ModelConfig(family="vae", backbone="conv", input_shape=(1, 28, 28), hidden=(128, 1024), latent_dim=2)


def test_a_model_within_every_old_limit_but_huge_compute_is_refused(monkeypatch):
    monkeypatch.setitem(compute._bench, "flops_per_second", 30e9)
    stage = TrainConfig(epochs=30)
    assert HUGE.parameter_count() <= limits.APP_MAX_PARAMETERS
    assert 30 * 60_000 <= limits.APP_MAX_SAMPLES_SEEN and max(HUGE.hidden) <= limits.APP_MAX_WIDTH
    with pytest.raises(ConfigError) as e:
        tj.check_compute(HUGE, stage, 60_000)
    # 3 x 0.413 GFLOP per training image x 1.8 M images / 30 GFLOP/s = 74,000 s
    assert str(e.value) == ("this model needs about 1.2 GFLOP per image; 30 epochs x 60,000 images ≈ "
                            "20.7 h on this server; the limit is 20 min: use fewer epochs, a smaller "
                            "model or the CLI")
    assert tj.check_compute(ModelConfig(input_shape=(1, 28, 28)), stage, 60_000) < limits.APP_MAX_TRAIN_SECONDS


def test_a_training_job_over_the_compute_budget_is_refused_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setitem(compute._bench, "flops_per_second", 30e9)
    x = np.broadcast_to(np.zeros((1, 1, 28, 28), np.float32), (60_000, 1, 28, 28))   # no memory
    spec = tj.JobSpec(HUGE, TrainConfig(epochs=30), "mnist", "huge", tmp_path)
    with pytest.raises(ConfigError, match="GFLOP per image"):
        tj.TrainingJob(spec, x)
    assert tj.running_count() == 0 and not (tmp_path / "huge").exists()


def test_warm_pays_the_one_time_costs_up_front():
    compute.warm()
    assert "flops_per_second" in compute._bench
    assert compute._forward_macs.cache_info().currsize >= 1
