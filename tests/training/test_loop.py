import threading

import numpy as np
import pytest
import torch

from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core.errors import TrainingDiverged
from aeviz.training.loop import kl_weight, train

CFG = ModelConfig(family="vae", input_shape=(1, 8, 8), hidden=(32,), latent_dim=2)


def _data(n=128):
    # Two clusters so there is something to learn.
    rng = np.random.default_rng(0)
    base = rng.random((2, 1, 8, 8), dtype=np.float32)
    x = base[rng.integers(0, 2, n)] * 0.8 + 0.2 * rng.random((n, 1, 8, 8), dtype=np.float32)
    return x.astype(np.float32)


@pytest.mark.parametrize("family", ["ae", "dae", "sae", "vae"])
def test_loss_decreases(family):
    x = _data()
    result = train(CFG.replace(family=family), TrainConfig(epochs=8, batch_size=32, lr=3e-3), x, x[:32])
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"] * 0.95
    assert last["test_loss"] < first["test_loss"]
    assert [r["epoch"] for r in result.history] == list(range(1, 9))


def test_seeded_training_is_deterministic():
    x = _data()
    cfg = TrainConfig(epochs=2, batch_size=16, seed=3)
    a = train(CFG, cfg, x).model.state_dict()
    b = train(CFG, cfg, x).model.state_dict()
    c = train(CFG, cfg.__class__(epochs=2, batch_size=16, seed=4), x).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_callbacks_and_cancel():
    x = _data()
    steps, epochs = [], []
    flag = threading.Event()

    def on_step(step, metrics):
        steps.append(metrics["loss"])
        if step == 5:
            flag.set()

    result = train(CFG, TrainConfig(epochs=50, batch_size=16), x, on_step=on_step,
                   on_epoch=lambda e, row: epochs.append(e), cancel=flag)
    assert result.cancelled and len(steps) == 5
    assert epochs == [] and result.history == []


def test_nan_loss_stops_and_keeps_last_good_weights(monkeypatch):
    from aeviz.models import families as models
    from aeviz.training.loop import seeded_model
    x = _data()
    calls = {"n": 0}
    original = models.VAE.forward

    def poisoned(self, xb, generator=None, kl_weight=1.0):
        out = original(self, xb, generator, kl_weight)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 12:                      # step 5 of epoch 2 (8 batches an epoch)
                out.loss = out.loss * float("nan")
        return out

    model = seeded_model(CFG, 0)
    snapshots = []
    monkeypatch.setattr(models.VAE, "forward", poisoned)
    with pytest.raises(TrainingDiverged, match="Lower the learning rate") as info:
        train(CFG, TrainConfig(epochs=5, batch_size=16), x, model=model,
              on_epoch=lambda e, row: snapshots.append({k: v.clone() for k, v in model.state_dict().items()}))
    err = info.value
    assert err.epoch == 1 and err.step == 12 and len(err.history) == 1
    kept = err.model.state_dict()
    assert all(torch.equal(kept[k], snapshots[-1][k]) for k in kept)


def test_pca_is_fitted_not_trained():
    x = _data()
    result = train(CFG.replace(family="pca", latent_dim=4), TrainConfig(epochs=1), x, x[:16])
    assert result.history[0]["test_loss"] < result.history[0]["train_loss"] * 10
    assert result.model.components.abs().sum() > 0


def test_kl_warmup_ramp():
    assert kl_weight(0, 0) == 1.0
    assert kl_weight(0, 4, 0.0) == 0.0 and kl_weight(1, 4, 0.0) == 0.25 and kl_weight(9, 4) == 1.0


def test_cosine_schedule_decays_the_rate_to_zero():
    from aeviz.training.loop import LR_SCHEDULES
    from aeviz.models.config import LR_SCHEDULES as NAMES
    assert tuple(LR_SCHEDULES) == NAMES
    cos = LR_SCHEDULES["cosine"]
    assert cos(0.0) == 1.0 and cos(1.0) < 1e-12 and abs(cos(0.5) - 0.5) < 1e-12
    assert all(LR_SCHEDULES["constant"](p) == 1.0 for p in (0, 0.5, 1))


def test_cosine_schedule_changes_training_and_ends_with_tiny_steps():
    x = _data()
    const = train(CFG, TrainConfig(epochs=4, batch_size=16, lr=3e-3), x).model.state_dict()
    res = train(CFG, TrainConfig(epochs=4, batch_size=16, lr=3e-3, lr_schedule="cosine"), x)
    cos = res.model.state_dict()
    assert not all(torch.equal(const[k], cos[k]) for k in const)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    lrs = [row["lr"] for row in res.history]                 # rate at the end of each epoch
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-5 < 2.5e-3 < lrs[0] < 3e-3
