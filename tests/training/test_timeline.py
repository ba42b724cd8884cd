"""Training timelines: recorded without changing the run, stored safely, read back validated."""
import numpy as np
import pytest
import torch

from aeviz.core.errors import CheckpointError, ConfigError
from aeviz.models.checkpoint import load_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.training import timeline as tl
from aeviz.training.loop import seeded_model, train

CFG = ModelConfig(family="vae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
STAGE = TrainConfig(epochs=12, batch_size=64, seed=0)


def _run(digits, record: bool):
    model = seeded_model(CFG, STAGE.seed)
    rec = tl.Recorder(model, digits.x_test, STAGE.epochs, points=100) if record else None
    result = train(CFG, STAGE, digits.x_train[:400], model=model, on_epoch=rec.on_epoch if rec else None)
    return result.model, rec


def test_schedule_is_denser_early_and_ends_at_the_last_epoch():
    s = tl.schedule(200)
    assert s[:5] == (0, 1, 2, 3, 4) and s[-1] == 200 and len(s) <= tl.MAX_FRAMES
    assert np.all(np.diff(np.diff(s)) >= -1)                      # gaps grow
    assert tl.schedule(3) == (0, 1, 2, 3)
    assert tl.weight_schedule(s)[0] == 0 and 200 not in tl.weight_schedule(s)


def test_recording_does_not_change_what_is_trained(digits):
    plain, _ = _run(digits, False)
    watched, rec = _run(digits, True)
    for k, v in plain.state_dict().items():
        assert torch.equal(watched.state_dict()[k], v), k
    t = rec.timeline()
    assert t.codes.shape == (len(tl.schedule(12)), 100, 2) and list(t.epochs) == list(tl.schedule(12))
    np.testing.assert_allclose(t.codes[-1], watched.encode_numpy(digits.x_test[t.index]), atol=1e-6)
    assert not np.allclose(t.codes[0], t.codes[-1])                 # the codes moved


def test_a_saved_timeline_reads_back_with_its_weights(tmp_path, digits):
    model, rec = _run(digits, True)
    t = rec.timeline()
    folder = tl.save_with_timeline(tmp_path / "m", model, t, dataset_name="digits")
    ckpt = load_checkpoint(folder)
    back = tl.read(folder, ckpt.model)
    np.testing.assert_array_equal(back.epochs, t.epochs)
    np.testing.assert_allclose(back.codes, t.codes, atol=2e-3)      # float16 on disk
    assert back.weight_epochs == t.weight_epochs and back.weight_epochs[0] == 0
    first = tl.weights_at(folder, ckpt.model, 0)
    x = torch.tensor(digits.x_test[:5])
    fresh = seeded_model(CFG, STAGE.seed).eval()
    torch.testing.assert_close(first.decode(first.codes(x)), fresh.decode(fresh.codes(x)), atol=2e-3, rtol=0)
    with pytest.raises(CheckpointError, match="no weights were recorded after epoch 5"):
        tl.weights_at(folder, ckpt.model, 5)


@pytest.mark.parametrize("change, message", [
    (dict(codes=np.full((2, 3, 2), np.nan, np.float16)), "codes have shape|finite"),
    (dict(epochs=np.array([3, 1], np.int32)), "epochs must increase"),
    (dict(codes=np.zeros((2, 3), np.float16)), "codes have shape"),
    (dict(split=np.array(["../x"])), "split must be"),
    (dict(weight_epochs=np.array([7], np.int32)), "no frame"),
    (dict(index=np.array([1.5, 2, 3])), "must be integers"),
])
def test_a_hostile_timeline_is_refused_with_a_message(tmp_path, change, message):
    model = seeded_model(CFG, 0)
    t = tl.Timeline(np.array([0, 1]), np.arange(3), np.zeros((2, 3, 2), np.float32), "test", {})
    folder = tl.save_with_timeline(tmp_path / "m", model, t)
    good = dict(np.load(folder / tl.FILE))
    np.savez(folder / tl.FILE, **{**good, **change})
    with pytest.raises(CheckpointError, match=message):
        tl.read(folder, model)


def test_a_timeline_too_large_is_refused_before_training(digits):
    wide = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=1024)
    with pytest.raises(ConfigError, match="more than 4,000,000 values"):
        tl.Recorder(seeded_model(wide, 0), digits.x_test, 200)


def test_a_codes_only_timeline_keeps_no_weights_and_watch_picks_the_split(tmp_path, digits):
    rec = tl.watch(True, CFG, STAGE, STAGE.epochs, digits.x_test, weight_frames=0, points=50)
    train(CFG, STAGE, digits.x_train[:200], model=rec.model, on_epoch=rec.on_epoch)
    folder = tl.save_with_timeline(tmp_path / "m", rec.model, rec.timeline())
    assert tl.read(folder, rec.model).weight_epochs == () and not (folder / tl.FOLDER).exists()
    assert tl.watch(False, CFG, STAGE, 3, digits.x_test) is None
    assert tl.watch(True, CFG.replace(family="pca"), STAGE, 3, digits.x_test) is None
    assert tl.watch(True, CFG, STAGE, 3, digits.x_test[:0], digits.x_train).split == "train"
