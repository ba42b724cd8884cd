"""Zoo recipes, a tiny build end to end, `zoo check`, and the shipped models in pretrained/."""
import argparse
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from aeviz.cli import zoo as cli_zoo
from aeviz.zoo import recipes as zoo
from aeviz.models.checkpoint import load_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.data.registry import load_dataset
from aeviz.core.errors import ConfigError
from aeviz.maps.mapfile import read_map_file
from aeviz.maps.store import shipped_map
from aeviz.maps.projections import method_params
from aeviz.training.loop import seeded_model

REQUIRED = {"digits-ae-2", "digits-vae-2", "digits-ae-8", "digits-vae-8", "mnist-ae-2", "mnist-vae-2",
            "mnist-ae-16", "mnist-vae-16", "mnist-ae-30", "mnist-vae-50", "fashion-mnist-ae-16",
            "fashion-mnist-vae-16"}


def test_registry_has_every_model_with_fair_pairs():
    assert REQUIRED <= set(zoo.ZOO)
    for name, entry in zoo.ZOO.items():
        assert entry.name == name and entry.command == f"python -m aeviz zoo build {name}"
        twin = zoo.ZOO.get(name.replace("-ae-", "-vae-"))
        if "-ae-" in name and twin is not None:           # same backbone and schedule as its VAE
            assert twin.model.replace(family="ae") == entry.model and twin.stages == entry.stages
    deep = zoo.ZOO["mnist-ae-30"].model
    assert (deep.hidden, deep.latent_dim, deep.likelihood) == ((1000, 500, 250), 30, "bernoulli")
    burda = zoo.ZOO["mnist-vae-50"]
    assert (burda.model.hidden, burda.model.latent_dim, burda.iwae_k) == ((200, 200), 50, 5000)
    assert all(s.binarize for s in burda.stages)
    with pytest.raises(ConfigError, match="no zoo recipe"):
        zoo.get_entry("mnist-ae-3000")


@pytest.fixture
def tiny(monkeypatch):
    entry = zoo.ZooEntry("tiny-ae", "digits",
                         ModelConfig(family="ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(16,)),
                         (TrainConfig(epochs=2, lr=3e-3, batch_size=256), TrainConfig(epochs=1, lr=1e-3, seed=1)),
                         maps=("pca",))
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    return entry


def test_build_writes_a_complete_checkpoint(tiny, tmp_path):
    path = zoo.build("tiny-ae", root=tmp_path, log=lambda m: None)
    ckpt = load_checkpoint(path)
    assert ckpt.command == "python -m aeviz zoo build tiny-ae" and ckpt.dataset_name == "digits"
    assert [r["epoch"] for r in ckpt.history] == [1, 2, 3]
    assert [r["lr"] for r in ckpt.history] == [3e-3, 3e-3, 1e-3]
    m = ckpt.metrics
    assert m["train_epochs"] == 3 and m["schedule"] == "2@0.003, 1@0.001"
    assert {"sse_per_image", "knn_acc_1", "prior_confidence", "fitted_confidence"} <= set(m)
    dtypes = {t.dtype for t in load_file(str(path / "model.safetensors")).values()}
    assert dtypes == ({torch.float16} if m["weights_dtype"] == "float16" else {torch.float32})
    arrays = read_map_file(path / "maps" / "pca.npz")
    assert arrays["embedding"].shape == (360, 2) and arrays["embedding"].dtype == np.float16
    assert arrays["labels"].shape == (360,)
    # The app finds the shipped map for the model's recomputed float32 codes.
    codes = ckpt.model.encode_numpy(load_dataset("digits").x_test)
    params = {k: v for k, v in method_params("pca").items() if k != "random_state"}
    assert shipped_map(path, "pca", "test", params, 0, codes) is not None
    assert zoo.shipped_names(tmp_path) == ["tiny-ae"]
    assert zoo.check("tiny-ae", root=tmp_path)["status"] == "ok"


def test_a_watched_recipe_ships_its_timeline_across_stages_and_keeps_it_on_refresh(tiny, tmp_path, monkeypatch):
    from dataclasses import replace
    from aeviz.training import timeline as tl
    monkeypatch.setitem(zoo.ZOO, "tiny-ae", replace(tiny, timeline=True))
    path = zoo.build("tiny-ae", root=tmp_path, log=lambda m: None)
    ckpt = load_checkpoint(path)
    found = tl.read(path, ckpt.model)
    assert list(found.epochs) == [0, 1, 2, 3] and found.codes.shape == (4, 360, 2)   # epochs count on
    np.testing.assert_allclose(found.codes[-1], ckpt.model.encode_numpy(load_dataset("digits").x_test),
                               atol=5e-3)                      # float16 codes of the final (float16) model
    before = (path / tl.FILE).read_bytes()
    zoo.refresh_maps("tiny-ae", root=tmp_path, log=lambda m: None)
    assert (path / tl.FILE).read_bytes() == before and tl.weights_at(path, ckpt.model, 0) is not None


def _check_with_sse(root, change) -> None:
    """Build tiny-ae, rewrite its recorded sse_per_image with ``change(old)``, and assert that
    `zoo check` (the function and the CLI) reports exactly that metric as changed."""
    path = zoo.build("tiny-ae", root=root, log=lambda m: None)
    metrics = json.loads((path / "metrics.json").read_text())
    metrics["sse_per_image"] = change(metrics["sse_per_image"])
    (path / "metrics.json").write_text(json.dumps(metrics))
    result = zoo.check("tiny-ae", root=root)
    assert result["status"] == "failed"
    assert [r[0] for r in result["rows"] if not r[3]] == ["sse_per_image"]
    parser = argparse.ArgumentParser()
    cli_zoo.add_arguments(parser)
    assert cli_zoo.run(parser.parse_args(["check", "--root", str(root), "--threads", "1"])) == 1


def test_check_notices_changed_metrics(tiny, tmp_path):
    _check_with_sse(tmp_path, lambda old: old * 1.05)


@pytest.mark.parametrize("stored", [None, "0.5", True, [1.0], {"v": 1}])
def test_check_reports_a_damaged_metric_as_changed_not_a_crash(tiny, tmp_path, capsys, stored):
    _check_with_sse(tmp_path, lambda old: stored)    # null is how a NaN is saved; the rest hand edits
    out = capsys.readouterr().out
    assert f"recorded {repr(stored)[:12]}" in out and "CHANGED" in out


def test_check_skips_models_whose_data_is_absent(tmp_path, monkeypatch):
    from aeviz.models.checkpoint import save_checkpoint
    monkeypatch.setenv("AEVIZ_DATA_DIR", str(tmp_path / "nodata"))
    model = seeded_model(ModelConfig(family="ae", input_shape=(1, 28, 28), latent_dim=2, hidden=(4,)), 0)
    save_checkpoint(tmp_path / "m", model, dataset_name="fashion-mnist")
    from aeviz.data.registry import find_files
    if find_files("fashion-mnist") is not None:
        pytest.skip("fashion-mnist is installed system-wide")
    assert zoo.check("m", root=tmp_path)["status"] == "skipped"


def test_half_roundtrip_is_float16_exact():
    model = seeded_model(ModelConfig(family="vae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,)), 0)
    twin = zoo.half_roundtrip(model)
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(b, b.half().float()) and torch.allclose(a, b, rtol=1e-3, atol=1e-4)


def test_cli_list(capsys, tmp_path):
    parser = argparse.ArgumentParser()
    cli_zoo.add_arguments(parser)
    assert cli_zoo.run(parser.parse_args(["list", "--json", "--root", str(tmp_path)])) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(zoo.ZOO) and not any(r["shipped"] for r in rows)
    with pytest.raises(ConfigError, match="no zoo recipe"):
        cli_zoo.run(parser.parse_args(["build", "nope"]))


@pytest.mark.slow
def test_shipped_models_still_hold_their_recorded_metrics():
    names = zoo.shipped_names()
    assert {"digits-ae-8", "digits-vae-8"} <= set(names)      # the app's embedded default ships
    for name in names:
        result = zoo.check(name)
        assert result["status"] in ("ok", "skipped"), result


def test_shipped_models_with_published_targets_met_them():
    for name in zoo.shipped_names():
        entry, metrics = zoo.ZOO.get(name), load_checkpoint(zoo.PRETRAINED_DIR / name).metrics
        for key, bound in (entry.targets if entry else ()):
            assert metrics[f"target_{key}"] == bound and metrics[key] <= bound, (name, key, metrics[key])
            assert metrics["target_met"] is True


def test_describe_stage_names_what_differs_from_the_defaults():
    assert zoo.describe_stage(TrainConfig(epochs=5, lr=1e-3)) == "5@0.001"
    stage = TrainConfig(epochs=90, lr=2e-3, lr_schedule="cosine", augment="elastic", augment_strength=0.5,
                        kl_warmup_epochs=10, weight_decay=1e-5)
    assert zoo.describe_stage(stage) == "90@0.002 cosine, elastic x0.5, kl warm-up 10, weight decay 1e-05"
