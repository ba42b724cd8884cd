"""The frozen configs that build a model and train it; both live in the checkpoint.

``ModelConfig.from_dict`` is the boundary for untrusted ``config.json`` files:
unknown keys, wrong types and sizes that would exhaust memory are refused
before any tensor is allocated.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

from aeviz.core import limits
from aeviz.core.errors import ConfigError
from aeviz.models.priors import PRIORS, get_prior
from aeviz.models.registry import MODELS      # filled by the family modules, see registry.py

BACKBONES = ("mlp", "conv", "linear")
# hidden widths each backbone starts from; linear has no hidden layer (a linear
# code: with the Bernoulli likelihood, logistic PCA as an autoencoder)
DEFAULT_HIDDEN = {"mlp": (256, 128), "conv": (32, 64), "linear": ()}
LIKELIHOODS = ("bernoulli", "gaussian")
NOISES = ("mask", "gaussian", "salt_pepper")
AUGMENTS = ("none", "affine", "elastic")            # registry keys, see augment.py
LR_SCHEDULES = ("constant", "cosine")               # registry keys, see train.py
MAX_AUGMENT_STRENGTH = 4.0
# the ModelConfig string fields and what each chooses from: the CLI's flags, the Train page's
# pickers and the checks below all read this one table
MODEL_CHOICES: dict[str, tuple[str, ...]] = {"backbone": BACKBONES, "likelihood": LIKELIHOODS,
                                             "noise": NOISES, "prior": tuple(PRIORS)}
MAX_PARAMETERS = limits.MODEL_MAX_PARAMETERS     # public name: tests and callers size models by it


@dataclass(frozen=True)
class ModelConfig:
    family: str = "vae"                  # key of aeviz.models.families.MODELS: ae, vae, ...
    backbone: str = "mlp"                # mlp | conv | linear
    input_shape: tuple[int, ...] = (1, 8, 8)   # (C, H, W) images or (D,) vectors
    latent_dim: int = 2
    hidden: tuple[int, ...] = (256, 128)  # mlp widths; conv: channels per stride-2 layer
    beta: float = 1.0                    # KL weight (beta-VAE); vae only
    likelihood: str = "bernoulli"        # bernoulli (BCE) | gaussian (squared error)
    noise: str = "mask"                  # dae corruption: mask | gaussian | salt_pepper
    noise_level: float = 0.3             # dae: drop prob., std, or flip prob.
    sparsity: float = 1e-3               # sae: weight of the L1 penalty on the code
    contraction: float = 0.1             # cae: weight of ||d code / d input||_F^2
    prior: str = "normal"                # aae: key of aeviz.models.priors.PRIORS
    prior_components: int = 10           # aae: components of the mixture prior
    prior_by_label: bool = False         # aae: each class to its own mixture component (needs labels)

    def __post_init__(self):
        family = self.family_class
        for name, choices in MODEL_CHOICES.items():
            _check_choice(name, getattr(self, name), choices)
        if "prior" in family.uses:
            get_prior(self.prior, self.latent_dim, self.prior_components)   # sizes it needs
        shape = self.input_shape
        if not 1 <= len(shape) <= 3 or any(s < 1 for s in shape):
            raise ConfigError(f"input_shape must be (D,) or (C, H, W) with positive sizes, got {shape}")
        if math.prod(shape) > limits.MODEL_MAX_INPUT_SIZE:
            raise ConfigError(f"input_shape {shape} has {math.prod(shape)} values; "
                              f"the limit is {limits.MODEL_MAX_INPUT_SIZE}")
        if self.backbone == "conv" and len(shape) != 3:
            raise ConfigError("the conv backbone needs image input (C, H, W); use backbone='mlp' for vectors")
        if self.backbone == "conv" and min(shape[1:]) < 2 ** len(self.hidden):
            raise ConfigError(f"{len(self.hidden)} stride-2 conv layers need images of at least "
                              f"{2 ** len(self.hidden)} pixels a side, got {shape[1:]}: use fewer layers")
        if not 1 <= self.latent_dim <= limits.MODEL_MAX_LATENT:
            raise ConfigError(f"latent_dim must be in 1..{limits.MODEL_MAX_LATENT}, got {self.latent_dim}")
        if self.family == "pca" and self.latent_dim > math.prod(shape):
            raise ConfigError(f"pca latent_dim {self.latent_dim} exceeds the input size {math.prod(shape)}")
        if self.backbone == "linear" and not family.closed_form:
            if self.hidden:
                raise ConfigError(f"the linear backbone has no hidden layers; got hidden={self.hidden}: "
                                  "pass hidden=() (CLI: leave out --hidden) or use backbone 'mlp'")
        elif not self.hidden or any(not 1 <= h <= limits.MODEL_MAX_WIDTH for h in self.hidden) or \
                len(self.hidden) > limits.MODEL_MAX_LAYERS:
            raise ConfigError(f"hidden must be 1-{limits.MODEL_MAX_LAYERS} widths in "
                              f"1..{limits.MODEL_MAX_WIDTH}, got {self.hidden}")
        for name in ("beta", "noise_level", "sparsity", "contraction"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
        if family.variational and self.beta <= 0:
            raise ConfigError(f"beta must be > 0 for a VAE, got {self.beta}")
        if self.noise in ("mask", "salt_pepper") and self.noise_level >= 1:
            raise ConfigError(f"noise_level is a probability for {self.noise!r} noise; got {self.noise_level}")
        if self.parameter_count() > limits.MODEL_MAX_PARAMETERS:
            raise ConfigError(f"this model would have {self.parameter_count():,} parameters; "
                              f"the limit is {limits.MODEL_MAX_PARAMETERS:,}: use fewer or narrower hidden layers")

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def family_class(self) -> type:
        """The registered model class, whose attributes (``variational``, ``uses``...) callers read."""
        if not isinstance(self.family, str) or self.family not in MODELS:
            raise ConfigError(f"family must be one of {', '.join(MODELS)}; got {self.family!r}")
        return MODELS[self.family]

    @property
    def is_variational(self) -> bool:
        return self.family_class.variational

    def parameter_count(self) -> int:
        """Upper-bound estimate, computed without building the model."""
        return self._backbone_parameters() + self.family_class.extra_parameters(self)

    def _backbone_parameters(self) -> int:
        d, z = self.input_size, self.latent_dim
        if self.family == "pca":
            return d * (z + 1) + z          # mean, components, explained variance
        if self.backbone == "linear":
            return (d + 1) * 3 * z + (z + 1) * d     # heads (VAE: mean + log-variance) + decoder
        if self.backbone == "mlp":
            widths = (d, *self.hidden)
            body = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
            return 2 * body + (self.hidden[-1] + 1) * 3 * z + d
        chans = (self.input_shape[0], *self.hidden)
        conv = sum(16 * a * b + b for a, b in zip(chans, chans[1:]))
        flat = self.hidden[-1] * math.ceil(self.input_shape[1] / 2 ** len(self.hidden)) * \
            math.ceil(self.input_shape[2] / 2 ** len(self.hidden))
        return 2 * conv + 2 * (flat + 1) * 2 * z + flat

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Any) -> "ModelConfig":
        return cls(**_typed_kwargs(cls, data))

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    kl_warmup_epochs: int = 0            # vae: KL weight ramps 0 -> beta over these epochs
    binarize: bool = False               # dynamic binarization: x ~ Bernoulli(x) per batch
    grad_clip: float = 0.0               # 0 = off
    weight_decay: float = 0.0
    lr_schedule: str = "constant"        # constant | cosine (to 0 over the run)
    augment: str = "none"                # images only: none | affine | elastic (augment.py)
    augment_strength: float = 1.0        # scales the warp ranges; 1 = up to 8 degrees, 1 px

    def __post_init__(self):
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("augment", self.augment, AUGMENTS)
        if not (math.isfinite(self.augment_strength) and 0 <= self.augment_strength <= MAX_AUGMENT_STRENGTH):
            raise ConfigError(f"augment_strength must be in 0..{MAX_AUGMENT_STRENGTH:g}, got {self.augment_strength}")
        if not 1 <= self.epochs <= limits.TRAIN_MAX_EPOCHS:
            raise ConfigError(f"epochs must be in 1..{limits.TRAIN_MAX_EPOCHS}, got {self.epochs}")
        if not 1 <= self.batch_size <= limits.TRAIN_MAX_BATCH:
            raise ConfigError(f"batch_size must be in 1..{limits.TRAIN_MAX_BATCH}, got {self.batch_size}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ConfigError(f"lr must be in (0, 1], got {self.lr}")
        if not 0 <= self.seed < 2 ** 63:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed}")
        if self.kl_warmup_epochs < 0 or not all(math.isfinite(v) and v >= 0 for v in
                                                (self.grad_clip, self.weight_decay)):
            raise ConfigError("kl_warmup_epochs, grad_clip and weight_decay must be finite and >= 0, "
                              f"got {self.kl_warmup_epochs}, {self.grad_clip}, {self.weight_decay}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        return cls(**_typed_kwargs(cls, data))


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _typed_kwargs(cls: type, data: Any) -> dict[str, Any]:
    """Check keys and JSON types of an untrusted dict before building ``cls``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys: {sorted(known)}")
    return {k: _coerce(cls.__name__, k, v, hints[k]) for k, v in data.items()}


def _coerce(owner: str, key: str, value: Any, hint: Any) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{owner}.{key} must be {expected}, got {value!r:.80}")
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or len(value) > 64:
            raise bad("a short string")
        return value
    # tuple[int, ...]
    if not isinstance(value, (list, tuple)) or len(value) > 16 or \
            any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise bad("a list of at most 16 integers")
    return tuple(value)
