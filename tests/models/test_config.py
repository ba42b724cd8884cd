import pytest

from aeviz.models.config import MAX_PARAMETERS, ModelConfig, TrainConfig
from aeviz.core.errors import ConfigError


def test_round_trip_through_dict():
    c = ModelConfig(family="dae", backbone="conv", input_shape=(1, 28, 28), hidden=(16, 32), noise="gaussian")
    assert ModelConfig.from_dict(c.to_dict()) == c
    t = TrainConfig(epochs=3, binarize=True)
    assert TrainConfig.from_dict(t.to_dict()) == t


@pytest.mark.parametrize("changes, message", [
    ({"family": "gan"}, "family must be one of"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"latent_dim": 10**6}, "latent_dim"),
    ({"hidden": (10**5,)}, "hidden"),
    ({"hidden": ()}, "hidden"),
    ({"beta": float("nan")}, "beta"),
    ({"noise_level": 1.5}, "probability"),
    ({"input_shape": (0, 8)}, "input_shape"),
    ({"backbone": "conv", "input_shape": (64,)}, "conv backbone needs image"),
    ({"backbone": "conv", "input_shape": (1, 8, 8), "hidden": (8, 8, 8, 8)}, "at least 16 pixels"),
])
def test_invalid_model_configs_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**changes)


def test_memory_exhausting_config_refused_before_building():
    with pytest.raises(ConfigError, match="parameters"):
        ModelConfig(input_shape=(3, 256, 256), hidden=(8192, 8192))
    assert ModelConfig(input_shape=(1, 28, 28), hidden=(1000, 500, 250)).parameter_count() < MAX_PARAMETERS


@pytest.mark.parametrize("data, message", [
    ([], "JSON object"),
    ({"family": "ae", "evil": 1}, "unknown ModelConfig keys"),
    ({"latent_dim": "2"}, "integer"),
    ({"latent_dim": True}, "integer"),
    ({"hidden": [1.5]}, "list of at most 16 integers"),
    ({"hidden": list(range(1, 40))}, "list of at most 16 integers"),
    ({"beta": "x"}, "number"),
    ({"family": "a" * 1000}, "short string"),
])
def test_untrusted_dicts_are_checked(data, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_dict(data)


@pytest.mark.parametrize("changes", [{"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"lr": float("inf")},
                                     {"seed": -1}, {"kl_warmup_epochs": -1}])
def test_invalid_train_configs(changes):
    with pytest.raises(ConfigError):
        TrainConfig(**changes)
