import argparse
import json

import numpy as np
import pytest

from aeviz.models.checkpoint import save_checkpoint
from aeviz.cli.project import METHOD_CHOICES, add_arguments, run, run_projection
from aeviz.models.config import ModelConfig
from aeviz.data.registry import load_dataset
from aeviz.core.errors import AevizError, ConfigError
from aeviz.maps.mapfile import read_map_file
from aeviz.models.families import build
from aeviz.maps.projections import METHODS


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A PCA 'model' of digits with 6-D codes: fitted in milliseconds, saved as a real folder."""
    data = load_dataset("digits")
    model = build(ModelConfig(family="pca", input_shape=data.sample_shape, latent_dim=6)).fit(
        data.x_train)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "pca6", model, dataset_name="digits")


def test_project_writes_the_map_and_prints_json(checkpoint, tmp_path, capsys):
    out = tmp_path / "map.npz"
    assert run(parse(str(checkpoint), "--method", "pca", "--split", "test", "--out", str(out),
                     "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    n_test = len(load_dataset("digits").y_test)
    assert summary["n_points"] == n_test and summary["method"] == "pca"
    assert 0.8 < summary["trustworthiness"] <= 1 and 0.3 < summary["knn_accuracy"] <= 1
    assert summary["seconds"] >= 0 and summary["cache_hit"] is False
    arrays = read_map_file(out)
    assert arrays["embedding"].shape == (n_test, 2) and arrays["codes"].shape == (n_test, 6)
    assert np.array_equal(arrays["labels"], load_dataset("digits").y_test)
    assert arrays["meta"]["method"] == "pca"
    run(parse(str(checkpoint), "--method", "pca", "--json"))       # same map again: a cache hit
    assert json.loads(capsys.readouterr().out)["cache_hit"] is True


def test_subsample_is_stratified_and_explicit(checkpoint, capsys):
    assert run(parse(str(checkpoint), "--method", "pca", "--subsample", "100", "--no-cache",
                     "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_points"] == 100 and summary["subsample"] == 100


def test_every_method_is_a_choice():
    assert sorted(METHOD_CHOICES) == sorted(METHODS)


def test_run_projection_passes_method_flags():
    codes = np.random.default_rng(0).normal(size=(120, 5)).astype(np.float32)
    args = parse("unused", "--method", "tsne", "--perplexity", "10", "--no-cache")
    emb, info = run_projection(codes, None, args)
    assert emb.shape == (120, 2) and info["params"]["perplexity"] == 10
    assert info["knn_accuracy"] is None


@pytest.mark.parametrize("argv,error,message", [
    (["--method", "pca", "--perplexity", "5"], ConfigError, "tsne only"),
    (["--method", "umap", "--n-neighbors", "1"], AevizError, "n_neighbors"),
    (["--method", "latent"], AevizError, "2-D codes"),
    (["--method", "pca", "--subsample", "0"], ConfigError, "positive"),
])
def test_bad_flags_are_clear_errors(checkpoint, argv, error, message):
    with pytest.raises(error, match=message):
        run(parse(str(checkpoint), "--no-cache", *argv))
