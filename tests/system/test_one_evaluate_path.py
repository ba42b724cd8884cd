"""eval, compare, zoo check and the app's Compare view report the same metrics for every shipped model.

They all call ``aeviz.metrics.evaluation.evaluate`` with the checkpoint (not its bare model),
so the recipe (e.g. binarized training data) decides the numbers in every view.
"""
import json
import warnings

import pytest

from aeviz.cli.main import main
from aeviz.core.paths import pretrained_dir
from aeviz.data.registry import find_files, get_spec
from aeviz.models.checkpoint import CONFIG, read_json
from aeviz.zoo import recipes as zoo
from conftest import real_data_dir

SHIPPED = zoo.shipped_names()
KEYS = tuple(zoo.QUICK_KEYS)


def _available(name: str) -> bool:
    spec = get_spec(read_json(pretrained_dir() / name / CONFIG, "config")["dataset"])
    return spec.builtin or find_files(spec.name, None) is not None


def _cli(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_every_shipped_model_is_checked():
    assert len(SHIPPED) >= 13 and "digits-vae-2" in SHIPPED and "mnist-vae-50" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_four_views_report_identical_metrics(name, capsys, monkeypatch):
    if not _available(name):
        pytest.skip(f"{name}: its dataset is not here (set AEVIZ_DATA_DIR)")
    if not get_spec(read_json(pretrained_dir() / name / CONFIG, "config")["dataset"]).builtin:
        real_data_dir("mnist")                           # real data: CI has it; skips elsewhere
    folder = str(pretrained_dir() / name)
    views = {"eval": _cli(capsys, "eval", folder, "--quick", "--json"),
             "compare": _cli(capsys, "compare", folder, "--quick", "--no-pca", "--json")["models"][0]["metrics"],
             "zoo check": {k: now for k, _, now, _ in zoo.check(name)["rows"]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # "no Streamlit runtime": fine outside the app
        from aeviz.ui import cache
        views["app"] = cache.get_metrics(f"pretrained:{name}", views["eval"]["dataset"])
    recorded = zoo.load_checkpoint(pretrained_dir() / name).metrics
    keys = [k for k in KEYS if k in views["eval"]]
    assert "sse_per_image" in keys
    for key in keys:
        values = {view: got.get(key) for view, got in views.items()}
        assert len(set(values.values())) == 1, f"{name} {key}: {values}"
        rel, absolute = zoo.QUICK_KEYS[key]
        assert values["eval"] == pytest.approx(recorded[key], rel=rel, abs=absolute), \
            f"{name} {key}: shipped metrics.json says {recorded[key]}, every view says {values['eval']}"
