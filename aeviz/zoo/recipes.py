"""The pretrained zoo: recipes for the models shipped in ``pretrained/``.

Each ``ZooEntry`` names a dataset, a ModelConfig and a training schedule (a
list of TrainConfigs run one after another on the same weights: a step-wise
learning-rate decay, since ``train`` uses a constant rate). AE/VAE pairs on a
dataset share one backbone so they compare fairly. ``build`` trains,
evaluates, precomputes test-split 2-D maps into ``maps/<method>.npz``
(aeviz.mapcache's layout, float16) and saves the checkpoint with the exact
command that rebuilds it; ``check`` reloads a shipped model and verifies that
its recorded metrics still hold.
"""
from __future__ import annotations

import copy
import math
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from aeviz.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint, write_json_atomic
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core import owned
from aeviz.core.errors import ConfigError
from aeviz.models import folder
from aeviz.core.paths import pretrained_dir
from aeviz.maps.projections import METHODS
from aeviz.metrics.evaluation import evaluate
from aeviz.models.families import MODELS, Autoencoder
from aeviz.training.loop import train
from aeviz.training.timeline import watch, write as write_timeline

PRETRAINED_DIR = pretrained_dir()
MAP_METHODS = ("pca", "umap", "tsne")        # the maps shipped per model: a chosen part of METHODS
ZOO_KEYS = ("weights_dtype", "half_change", "train_epochs", "schedule")   # added by build
HALF_TOLERANCE = 1e-3         # float16 weights are kept only if quick metrics move less (relative)
# metric -> (relative, absolute) tolerance of `check`; the larger one applies. Same seed and
# weights give the same numbers up to float summation order on another machine's BLAS.
QUICK_KEYS = {"sse_per_image": (2e-3, 1e-6), "mse_per_pixel": (2e-3, 1e-8), "recon_nll": (2e-3, 1e-6),
              "neg_elbo": (2e-3, 1e-6), "kl": (2e-3, 1e-3), "active_units": (0.0, 0.0)}
FULL_KEYS = {**QUICK_KEYS, "knn_acc_1": (0.0, 0.005), "knn_acc_5": (0.0, 0.005),
             "prior_confidence": (0.0, 0.02)}     # the judge may be retrained on another machine


@dataclass(frozen=True)
class ZooEntry:
    name: str
    dataset: str
    model: ModelConfig
    stages: tuple[TrainConfig, ...]             # run in order on the same weights
    half: bool = True                           # store float16 if metrics do not move
    iwae_k: int | None = None                   # importance samples for the recorded NLL
    maps: tuple[str, ...] = MAP_METHODS
    anchor: str = ""                            # the published number this recipe aims at
    targets: tuple[tuple[str, float], ...] = field(default=())   # (metric, upper bound)
    timeline: bool = False                      # record training.timeline (the app's Timeline page)
    timeline_weights: int = 3                   # weight snapshots it keeps (0: codes only, for size)

    def __post_init__(self):
        unknown = [m for m in self.maps if m not in METHODS]
        if unknown:
            raise ConfigError(f"zoo entry {self.name}: unknown map methods {unknown}; "
                              f"known: {', '.join(METHODS)}")

    @property
    def command(self) -> str:
        return f"python -m aeviz zoo build {self.name}"

    @property
    def epochs(self) -> int:
        return sum(s.epochs for s in self.stages)


def _schedule(epochs_lrs: list[tuple[int, float]], **kw: Any) -> tuple[TrainConfig, ...]:
    return tuple(TrainConfig(epochs=e, lr=lr, seed=i, **kw) for i, (e, lr) in enumerate(epochs_lrs))


DIGITS = dict(input_shape=(1, 8, 8), hidden=(128, 64))
MNIST = dict(input_shape=(1, 28, 28), hidden=(512, 256))       # shared by mnist and fashion-mnist
DIGITS_RUN = _schedule([(150, 2e-3), (50, 5e-4)], batch_size=64)
MNIST_RUN = _schedule([(24, 1e-3), (6, 2e-4)], batch_size=128)


def _pair(dataset: str, latent: int, shape: dict, run: tuple[TrainConfig, ...], **kw: Any) -> list[ZooEntry]:
    return [ZooEntry(f"{dataset}-{fam}-{latent}", dataset, ModelConfig(family=fam, latent_dim=latent, **shape),
                     run, **kw) for fam in ("ae", "vae")]


def _aae(dataset: str, latent: int, shape: dict, run: tuple[TrainConfig, ...], prior: str,
         **kw: Any) -> ZooEntry:
    """The third contrast beside an AE/VAE pair: same backbone and schedule, codes matched to ``prior``."""
    return ZooEntry(f"{dataset}-aae-{latent}", dataset,
                    ModelConfig(family="aae", latent_dim=latent, prior=prior, **shape), run, **kw)


def _entries() -> dict[str, ZooEntry]:
    # the digits and 2-D MNIST models ship with a training timeline: the offline default shows it;
    # the MNIST ones keep codes only (three weight snapshots would add 6.3 MB each to pretrained/)
    watched, codes_only = dict(timeline=True), dict(timeline=True, timeline_weights=0)
    entries = _pair("digits", 2, DIGITS, DIGITS_RUN, **watched) + _pair("digits", 8, DIGITS, DIGITS_RUN, **watched)
    entries += _pair("mnist", 16, MNIST, MNIST_RUN) + _pair("mnist", 2, MNIST, MNIST_RUN, **codes_only)
    # Makhzani et al. 2015: the 10-component mixture in 2-D, a Gaussian prior in 8-D
    entries += [_aae("digits", 2, DIGITS, DIGITS_RUN, "mixture", **watched),
                _aae("digits", 8, DIGITS, DIGITS_RUN, "normal", **watched),
                _aae("mnist", 2, MNIST, MNIST_RUN, "mixture", **codes_only),
                _aae("mnist", 8, MNIST, MNIST_RUN, "normal",
                     anchor="Makhzani et al. 2015: 340 +/- 2 nats Parzen log-likelihood on MNIST test "
                            "(8-D AAE; a VAE of the same architecture: 290 +/- 2)")]
    entries.append(ZooEntry("mnist-vae-8", "mnist", ModelConfig(family="vae", latent_dim=8, **MNIST), MNIST_RUN,
                            anchor="Makhzani et al. 2015: 290 +/- 2 nats Parzen (the VAE beside their 8-D AAE)"))
    entries.append(ZooEntry(
        "mnist-ae-30", "mnist",
        ModelConfig(family="ae", input_shape=(1, 28, 28), hidden=(1000, 500, 250), latent_dim=30),
        # without augmentation this net memorises: 2.12 SSE per training image, 3.88 per test
        # image after 100 epochs; random elastic warps of each batch close that gap
        (TrainConfig(epochs=90, lr=1e-3, batch_size=128, lr_schedule="cosine", augment="elastic"),),
        anchor="Hinton & Salakhutdinov 2006: 3.00 SSE per test image (30-D, 784-1000-500-250-30)",
        targets=(("sse_per_image", 3.00),)))
    entries.append(ZooEntry(
        "mnist-vae-50", "mnist",
        ModelConfig(family="vae", input_shape=(1, 28, 28), hidden=(200, 200), latent_dim=50),
        # a 2e-3 rate decaying to 0 with 20 epochs of KL warm-up keeps 25 latent dimensions
        # active (12 with a constant 1e-3 and no warm-up) and reaches in 100 epochs what the
        # constant-rate run reached in 500 (pilots, IWAE k=1000: 88.5 vs 90.9 at 100 epochs)
        (TrainConfig(epochs=250, lr=2e-3, batch_size=100, binarize=True, lr_schedule="cosine",
                     kl_warmup_epochs=20),),
        iwae_k=5000,
        anchor="Burda et al. 2016: VAE 784-200-200-50, 86.76 nats (k=5000, dynamic binarization)",
        targets=(("iwae_nll", 88.8),)))
    entries += _pair("fashion-mnist", 16, MNIST, MNIST_RUN)
    # beta 0.3: at beta 1 the Bernoulli likelihood of grey faces is too weak against
    # the KL and one of the two latent dimensions collapses (1 active unit, SSE 4.40);
    # at 0.3 both stay active (SSE 2.62) and the decoded grid is the face manifold
    entries.append(ZooEntry("frey-faces-vae-2", "frey-faces",
                            ModelConfig(family="vae", input_shape=(1, 28, 20), hidden=(200, 100),
                                        latent_dim=2, beta=0.3),
                            _schedule([(300, 1e-3), (100, 3e-4)], batch_size=100)))
    return {e.name: e for e in entries}


ZOO: dict[str, ZooEntry] = _entries()


# Datasets that train in seconds: a `pretrained:<dataset>-<family>-<latent>` id without a
# shipped folder is trained on first use, by the zoo's own recipe where there is one.
BUILTIN_DATASETS = ("digits", "swiss-roll", "s-curve", "moons", "circles")
TOY = dict(hidden=(256, 128))
TOY_RUN = (TrainConfig(epochs=60, batch_size=64, lr=2e-3, seed=0),)      # ~3 s on 2 cores
_BUILTIN_NAME = re.compile(r"(?P<dataset>[a-z][a-z-]*?)-(?P<family>[a-z]+)-(?P<latent>[1-9][0-9]?)")


def builtin_entry(name: str, sample_shape: tuple[int, ...] | None = None) -> ZooEntry | None:
    """What ``pretrained:<name>`` means when pretrained/<name> is missing, or None.

    The zoo's recipe if it has one (so the id names one model everywhere),
    else a small recipe for a built-in dataset; ``sample_shape`` is needed for
    the latter and only checked for the former.
    """
    m = _BUILTIN_NAME.fullmatch(name)
    if not m or m["dataset"] not in BUILTIN_DATASETS or m["family"] not in MODELS or \
            MODELS[m["family"]].closed_form:
        return None
    if name in ZOO:
        return ZOO[name]
    if sample_shape is None:
        return ZooEntry(name, m["dataset"], ModelConfig(family=m["family"], latent_dim=int(m["latent"]),
                                                        **TOY), TOY_RUN)
    likelihood = "bernoulli" if len(sample_shape) == 3 else "gaussian"
    model = ModelConfig(family=m["family"], input_shape=tuple(sample_shape), latent_dim=int(m["latent"]),
                        likelihood=likelihood, **TOY)
    return ZooEntry(name, m["dataset"], model, TOY_RUN, maps=())


def get_entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise ConfigError(f"no zoo recipe named {name!r}; known: {', '.join(ZOO)}") from None


def train_entry(entry: ZooEntry, x_train: np.ndarray, x_test: np.ndarray | None,
                on_epoch: Callable[[int, dict], None] | None = None,
                model: Autoencoder | None = None) -> tuple[Autoencoder, list[dict]]:
    """Run every stage of the schedule on one model (``model``: the first stage's seeded
    initial weights, to watch them); history epochs count on across stages."""
    history, done = [], 0
    for stage in entry.stages:
        result = train(entry.model, stage, x_train, x_test, device="cpu", model=model,
                       on_epoch=(lambda e, row, d=done: on_epoch(d + e, row)) if on_epoch else None)
        for row in result.history:
            history.append({**row, "epoch": done + row["epoch"]})
        done += stage.epochs
        model = result.model
    return model, history


def describe_stage(stage: TrainConfig) -> str:
    """e.g. '100@0.001 cosine, elastic x1, kl warm-up 20': what a stage changes from the defaults."""
    parts = [f"{stage.epochs}@{stage.lr:g}" + (f" {stage.lr_schedule}" if stage.lr_schedule != "constant" else "")]
    if stage.augment != "none":
        parts.append(f"{stage.augment} x{stage.augment_strength:g}")
    if stage.kl_warmup_epochs:
        parts.append(f"kl warm-up {stage.kl_warmup_epochs}")
    if stage.weight_decay:
        parts.append(f"weight decay {stage.weight_decay:g}")
    return ", ".join(parts)


def target_report(entry: ZooEntry, metrics: dict[str, Any],
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """``target_<metric>`` (the bound) and ``target_met`` for a recipe with published targets."""
    out: dict[str, Any] = {}
    for key, bound in entry.targets:
        got = metrics.get(key)
        met = got is not None and got <= bound
        out[f"target_{key}"] = bound
        out["target_met"] = out.get("target_met", True) and met
        log(f"{entry.name}: target {key} <= {bound:g}: {'reached' if met else 'NOT reached'} ({got})")
    return out


def half_roundtrip(model: Autoencoder) -> Autoencoder:
    """A copy whose floating weights went through float16 (what a half checkpoint loads)."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for t in twin.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    return twin


def half_change(ckpt: Checkpoint, data, seed: int = 0) -> float:
    """Largest relative change of a quick metric when the weights are stored as float16."""
    a = evaluate(ckpt, data, quick=True, seed=seed)
    b = evaluate(replace(ckpt, model=half_roundtrip(ckpt.model)), data, quick=True, seed=seed)
    keys = [k for k in QUICK_KEYS if k in a and k != "active_units"]
    return max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-9) for k in keys)


def build(name: str, *, data_dir: str | Path | None = None, root: Path = PRETRAINED_DIR,
          log: Callable[[str], None] = print) -> Path:
    """Train, evaluate, map and save one zoo model under ``root/name``.

    ``root/name`` must be absent or a checkpoint aeviz wrote (checked before
    training: a user's folder there is kept and the build refused).
    """
    entry = get_entry(name)
    folder.recover(root / name)
    folder.check_replaceable(root / name)
    with owned.writer_lock(root / name, "the zoo model"):
        return _build(entry, data_dir, root, log)


def _build(entry: ZooEntry, data_dir, root: Path, log: Callable[[str], None]) -> Path:
    from aeviz.data.registry import load_dataset
    name = entry.name
    data = load_dataset(entry.dataset, data_dir, download=False)

    def on_epoch(epoch: int, row: dict) -> None:
        log(f"{name}: epoch {epoch}/{entry.epochs} train {row['train_loss']:.3f} "
            f"test {row.get('test_loss', float('nan')):.3f} ({row['seconds']:.0f} s)")

    recorder = watch(entry.timeline, entry.model, entry.stages[0], entry.epochs, data.x_test,
                     weight_frames=entry.timeline_weights)
    both = (lambda epoch, row: (on_epoch(epoch, row), recorder.on_epoch(epoch, row))) if recorder else on_epoch
    model, history = train_entry(entry, data.x_train, data.x_test, both, model=recorder and recorder.model)
    trained = Checkpoint.of(model, entry.stages, entry.dataset, entry.command, history)
    change = half_change(trained, data) if entry.half else float("inf")
    half = change <= HALF_TOLERANCE
    shipped = replace(trained, model=half_roundtrip(model)) if half else trained
    log(f"{name}: float16 changes metrics by {change:.2e} (relative); storing "
        f"{'float16' if half else 'float32'}")
    metrics = evaluate(shipped, data, iwae_k=entry.iwae_k)
    metrics.update({"weights_dtype": "float16" if half else "float32", "half_change": change,
                    "train_epochs": entry.epochs,
                    "schedule": ", ".join(map(describe_stage, entry.stages))})
    metrics.update(target_report(entry, metrics, log))
    with tempfile.TemporaryDirectory(prefix="aeviz-maps-") as tmp:
        maps = write_maps(shipped.model, data, entry.maps, Path(tmp), log=log)
        if recorder is not None:
            maps.update(write_timeline(recorder.timeline(), Path(tmp) / "timeline"))
        path = save_checkpoint(root / name, shipped.model, stages=entry.stages,
                               dataset_name=entry.dataset, command=entry.command, history=history,
                               metrics=metrics, half=half, extra_files=maps)
    log(f"{name}: saved {path}")
    return path


def refresh_maps(name: str, *, data_dir: str | Path | None = None, root: Path = PRETRAINED_DIR,
                 log: Callable[[str], None] = print) -> Path:
    """Recompute a shipped model's maps (e.g. once umap is installed); weights and metrics stay."""
    from aeviz.data.registry import load_dataset
    ckpt = load_checkpoint(root / name)
    data = load_dataset(ckpt.dataset_name, data_dir, download=False)
    methods = ZOO[name].maps if name in ZOO else MAP_METHODS
    with tempfile.TemporaryDirectory(prefix="aeviz-maps-") as tmp:
        maps = write_maps(ckpt.model, data, methods, Path(tmp), log=log)
        for rel, old in folder.extra_files(root / name).items():   # maps not redone, the timeline
            maps.setdefault(rel, old)
        return save_checkpoint(root / name, ckpt.model, stages=ckpt.stages,
                               dataset_name=ckpt.dataset_name, command=ckpt.command,
                               history=ckpt.history, metrics=ckpt.metrics,
                               half=ckpt.metrics.get("weights_dtype") == "float16", extra_files=maps)


def refresh_metrics(name: str, *, data_dir: str | Path | None = None, root: Path = PRETRAINED_DIR,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Re-evaluate a shipped model after a change to ``evaluate``; the zoo's own keys stay."""
    from aeviz.data.registry import load_dataset
    ckpt = load_checkpoint(root / name)
    data = load_dataset(ckpt.dataset_name, data_dir, download=False)
    iwae_k = ZOO[name].iwae_k if name in ZOO else None
    metrics = evaluate(ckpt, data, iwae_k=iwae_k)
    metrics.update({k: ckpt.metrics[k] for k in ZOO_KEYS if k in ckpt.metrics})
    if name in ZOO:
        metrics.update(target_report(ZOO[name], metrics, log))
    write_json_atomic(root / name / "metrics.json", metrics)
    log(f"{name}: metrics rewritten ({metrics['seconds']:.0f} s)")
    return metrics


def write_maps(model: Autoencoder, data, methods: tuple[str, ...], folder: Path,
               log: Callable[[str], None] = print, seed: int = 0) -> dict[str, Path]:
    """Test-split 2-D maps as ``{"maps/<method>.npz": file}`` for save_checkpoint's extra_files.

    Files use aeviz.mapcache's layout (``embedding``, ``codes``, ``labels``,
    ``meta``) so the app finds them with ``shipped_map`` instead of refitting
    UMAP/t-SNE; embedding and codes are stored as float16 (codes match within
    mapcache's tolerance, rtol 1e-3) to keep pretrained/ small.
    """
    from aeviz.maps.mapfile import write_map_file
    from aeviz.maps.store import cached_projection, map_meta
    x, y = data.split("test")
    codes = model.encode_numpy(x)
    out = {}
    for method in methods:
        emb, info = cached_projection(codes, y, method, {}, seed, model_id=f"zoo:{data.name}",
                                      split="test", cache=False)
        meta = map_meta(method, info["params"], seed, "test", codes, fit_seconds=info["fit_seconds"],
                        trustworthiness=info["trustworthiness"], knn_accuracy=info["knn_accuracy"])
        file = folder / f"{method}.npz"
        write_map_file(file, {"embedding": emb.astype(np.float16), "codes": codes.astype(np.float16),
                              "labels": y.astype(np.int16), "meta": meta})
        log(f"map {method}: {info['fit_seconds']:.1f} s, trustworthiness {info['trustworthiness']:.3f}")
        out[f"maps/{method}.npz"] = file
    return out


def shipped_names(root: Path = PRETRAINED_DIR) -> list[str]:
    """Folders under ``root`` that hold a checkpoint, in ZOO order then alphabetical."""
    found = {p.parent.name for p in root.glob("*/config.json")} if root.is_dir() else set()
    return [n for n in ZOO if n in found] + sorted(found - set(ZOO))


def check(name: str, *, data_dir: str | Path | None = None, root: Path = PRETRAINED_DIR,
          full: bool = False) -> dict[str, Any]:
    """Re-evaluate a shipped model; {"status": ok|failed|skipped, "rows": [(key, recorded, now, ok)]}."""
    from aeviz.data.registry import find_files, get_spec, load_dataset
    ckpt = load_checkpoint(root / name)
    spec = get_spec(ckpt.dataset_name)
    if not spec.builtin and find_files(spec.name, data_dir) is None:
        return {"name": name, "status": "skipped", "why": f"{spec.name} data not found", "rows": []}
    data = load_dataset(spec.name, data_dir, download=False)
    now = evaluate(ckpt, data, quick=not full)
    rows = []
    for key, (rel, absolute) in (FULL_KEYS if full else QUICK_KEYS).items():
        if key in ckpt.metrics and key in now:
            was, got = ckpt.metrics[key], now[key]
            # a NaN is saved honestly as null; a hand-edited file may hold anything: not a match
            number = isinstance(was, (int, float)) and not isinstance(was, bool) and math.isfinite(was)
            rows.append((key, was, got, number and abs(was - got) <= max(rel * abs(was), absolute)))
    status = "ok" if rows and all(r[3] for r in rows) else "failed"
    return {"name": name, "status": status, "rows": rows, "seconds": now["seconds"]}
