"""All of the app's caching: every ``st.cache_resource`` / ``st.cache_data`` lives here.

``cache_resource`` holds shared read-only objects (datasets, models in eval
mode, fitted projections), keyed by stable ids; ``cache_data`` holds arrays
(codes, maps, decoded images), with the model passed as an underscored
argument and its stable key passed beside it. Nothing per-user goes into
``cache_resource``: uploaded models live in the session (``state.UPLOADS``),
user models are keyed by folder name + file mtimes so a retrained model is
re-read.

Public API (stable; pages call these, never the backend's loaders directly):
    model_key(model_id) -> str                         stable cache key of a model id
    get_dataset(name) -> Dataset                       read-only arrays, shared (a session's upload: its own)
    get_split(name, split) -> (x, y)
    get_model(model_id) -> Checkpoint                  .model (eval mode), .config, .metrics, ...
    get_encoding(model_id, dataset, split) -> Encoding codes, logvar (VAE) and per-item error
    check_encode_budget(model_id, ckpt, n)             ConfigError when encoding n items would take too long
    get_codes(model_id, dataset, split) -> (N, D) float32
    get_map(model_id, dataset, split, method, params, seed) -> (N, 2) float32
    get_projector(model_id, dataset, split, method, params, seed) -> fitted estimator (transform)
    get_metrics(model_id, dataset, split, quick=True) -> dict[str, float]
    get_prior_images(model_id, n, seed) -> (z (n, D), images (n, *shape))
    decode(model_id, z) -> images                      uncached (sliders call it per frame)
    neighbours(codes, index, k) -> indices             nearest codes, the point itself excluded
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
import torch

from aeviz.core import files, limits
from aeviz.core.errors import AevizError, CheckpointError, ProjectionError
from aeviz.core.paths import cache_dir
from aeviz.data.registry import Dataset, load_dataset
from aeviz.models import compute
from aeviz.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from aeviz.models.families import prior_draws
from aeviz.ui import datasets, sources, state
from aeviz.zoo import recipes as zoo


@dataclass
class Encoding:
    codes: np.ndarray              # (N, D) float32: AE z / VAE posterior mean / PCA scores
    logvar: np.ndarray | None      # (N, D) VAE posterior log-variance, else None
    error: np.ndarray              # (N,) squared reconstruction error per item (all families alike)


# Datasets ----------------------------------------------------------------------

def get_dataset(name: str) -> Dataset:
    """A registered dataset (shared), or this session's own upload (``aeviz.ui.datasets``)."""
    return datasets.get(name) if datasets.is_upload(name) else _registered(name)


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def _registered(name: str) -> Dataset:
    # cache_resource, not cache_data: a 70k-image dataset must not be copied on every rerun;
    # its arrays are read-only views, so sharing them is safe.
    return load_dataset(name, download=False)


def get_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    return get_dataset(name).split(split)


# Models ------------------------------------------------------------------------

def model_key(model_id: str) -> str:
    """``model_id`` plus file mtimes for folders, so an overwritten checkpoint is a new key."""
    ref = sources.parse_model_id(model_id)
    folder = ref.folder()
    if folder is None:
        return str(ref)
    stamps = [(folder / f).stat().st_mtime_ns for f in ("config.json", "model.safetensors")
              if (folder / f).is_file()]
    return f"{ref}@{'-'.join(map(str, stamps))}"


def get_model(model_id: str) -> Checkpoint:
    """The checkpoint behind a model id, model in eval mode (do not train or modify it)."""
    ref = sources.parse_model_id(model_id)
    if ref.kind == "upload":
        ckpt = state.uploads().get(str(ref))
        if ckpt is None:
            raise CheckpointError(f"uploaded model {ref.name} is not in this session any more; "
                                  "upload it again on the Explore page")
        return ckpt
    if ref.kind == "pca":
        return _fit_pca(*sources.pca_spec(ref.name))
    folder = ref.folder()
    if folder is not None:
        return _load_folder(str(folder), model_key(model_id))
    entry = zoo.builtin_entry(ref.name) if ref.kind == "pretrained" else None
    if entry is None:
        raise CheckpointError(f"model {model_id} was not found (no checkpoint folder); pick another")
    return _train_builtin(ref.name)


@st.cache_resource(show_spinner="Loading model…", max_entries=32)
def _load_folder(folder: str, key: str) -> Checkpoint:
    return load_checkpoint(folder)


@st.cache_resource(show_spinner="Training a small model for the first run (a few seconds)…",
                   max_entries=16)
def _train_builtin(name: str) -> Checkpoint:
    """A missing pretrained model, trained by its zoo recipe once and kept in ``<cache>/builtin/``."""
    folder = cache_dir() / "builtin" / name
    if (folder / "model.safetensors").is_file():
        try:
            return load_checkpoint(folder)
        except AevizError:
            pass                               # a damaged cache copy is simply retrained
    dataset = zoo.builtin_entry(name).dataset
    ds = get_dataset(dataset)
    entry = zoo.builtin_entry(name, ds.sample_shape)
    model, history = zoo.train_entry(entry, np.array(ds.x_train), np.array(ds.x_test))
    ckpt = Checkpoint.of(model.eval(), entry.stages, dataset, entry.command, history)
    files.cache_write("built-in model", folder.parent, lambda: save_checkpoint(
        folder, model, stages=entry.stages, dataset_name=dataset, command=entry.command, history=history),
        errors=(OSError, CheckpointError))
    return ckpt


@st.cache_resource(show_spinner="Fitting PCA…", max_entries=16)
def _fit_pca(dataset: str, k: int) -> Checkpoint:
    from aeviz.training.loop import pca_baseline
    return pca_baseline(get_dataset(dataset), k)


# Arrays ------------------------------------------------------------------------

def get_encoding(model_id: str, dataset: str, split: str) -> Encoding:
    ckpt = get_model(model_id)
    shape = tuple(get_dataset(dataset).sample_shape)
    if tuple(ckpt.config.input_shape) != shape:
        raise CheckpointError(f"{model_id} reads inputs of shape {tuple(ckpt.config.input_shape)} but "
                              f"{dataset} samples are {shape}; pick a model trained on {dataset}")
    check_encode_budget(model_id, ckpt, len(get_split(dataset, split)[0]))
    return _encode(model_key(model_id), dataset, split, ckpt)


def check_encode_budget(model_id: str, ckpt: Checkpoint, n: int) -> None:
    """Refuse (ConfigError) to encode ``n`` items with an uploaded or user model whose estimated
    time is over APP_MAX_ENCODE_SECONDS; shipped models and PCA baselines are sized for the app."""
    if sources.parse_model_id(model_id).kind in ("pretrained", "pca"):
        return
    compute.check_budget(compute.flops_per_sample(ckpt.config), n, limits.APP_MAX_ENCODE_SECONDS,
                         f"encoding {n:,} images", "use a smaller model, fewer images, or the CLI "
                         "(python -m aeviz eval)")


@st.cache_data(show_spinner="Encoding…", max_entries=64)
def _encode(key: str, dataset: str, split: str, _ckpt: Checkpoint, batch: int = 4096) -> Encoding:
    x, _ = get_split(dataset, split)
    model = _ckpt.model
    codes, logvars, errors = [], [], []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.array(x[i:i + batch], dtype=np.float32))   # writable copy
            if _ckpt.config.is_variational:
                post = model.encode(xb)
                z = post.mean
                logvars.append(post.logvar.numpy())
            else:
                z = model.codes(xb)
            recon = model.decode(z)
            errors.append((recon - xb).pow(2).flatten(1).sum(1).numpy())
            codes.append(z.numpy())
    logvar = np.concatenate(logvars).astype(np.float32) if logvars else None
    return Encoding(np.concatenate(codes).astype(np.float32), logvar,
                    np.concatenate(errors).astype(np.float32))


def get_codes(model_id: str, dataset: str, split: str) -> np.ndarray:
    return get_encoding(model_id, dataset, split).codes


def get_map(model_id: str, dataset: str, split: str, method: str, params: dict[str, Any],
            seed: int) -> np.ndarray:
    """2-D map of the split's codes: (N, 2) float32, reused from disk when computed before."""
    codes = get_codes(model_id, dataset, split)
    return _map(model_key(model_id), dataset, split, method, dict(params), int(seed), codes,
                str(get_model(model_id).path or ""))


@st.cache_data(show_spinner="Projecting…", max_entries=64)
def _map(key: str, dataset: str, split: str, method: str, params: dict, seed: int,
         _codes: np.ndarray, _folder: str) -> np.ndarray:
    if method == "latent" and "dims" in params:
        return LatentPlane(**params).fit(_codes).transform(_codes)
    from aeviz.maps.store import cached_projection     # late: imports sklearn (and umap when used)
    _, labels = get_split(dataset, split)
    emb, _info = cached_projection(_codes, labels, method, params, seed, key, split,
                                   checkpoint_dir=_folder or None)
    return np.asarray(emb, dtype=np.float32)


class LatentPlane:
    """Explore's "latent" view of codes wider than 2: two chosen dimensions as they are."""

    def __init__(self, dims: tuple[int, int] = (0, 1), random_state: int | None = None):
        self.dims = dims

    def fit(self, codes: np.ndarray) -> "LatentPlane":
        d = np.asarray(codes).shape[1]
        if len(self.dims) != 2 or not all(0 <= int(i) < d for i in self.dims):
            raise ProjectionError(f"the latent view needs two dimensions in 0..{d - 1}, got {self.dims}")
        return self

    def transform(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float32)[:, list(self.dims)]


def get_projector(model_id: str, dataset: str, split: str, method: str, params: dict[str, Any],
                  seed: int) -> Any:
    """A fitted projection of the split's codes: ``transform`` (and ``inverse_transform``).

    UMAP/t-SNE come back as the cached map plus a kNN transform (``aeviz.mapcache``), so
    placing new points never refits them. ``latent`` with ``dims`` has transform only.
    """
    codes = get_codes(model_id, dataset, split)
    return _projector(model_key(model_id), dataset, split, method, tuple(sorted(params.items())),
                      int(seed), codes, str(get_model(model_id).path or ""))


@st.cache_resource(show_spinner="Fitting the projection…", max_entries=16)
def _projector(key: str, dataset: str, split: str, method: str, params: tuple, seed: int,
               _codes: np.ndarray, _folder: str) -> Any:
    if method == "latent" and "dims" in dict(params):
        return LatentPlane(**dict(params)).fit(_codes)
    from aeviz.maps.store import cached_projector
    _, labels = get_split(dataset, split)
    return cached_projector(_codes, labels, method, dict(params), seed, key, split,
                            checkpoint_dir=_folder or None)


def get_metrics(model_id: str, dataset: str, split: str = "test", quick: bool = True) -> dict[str, Any]:
    """``aeviz.metrics.evaluate`` (quick: reconstruction, KL, active units) plus the code metrics
    (kNN accuracy, trustworthiness: ~0.5 s on digits); quick=False adds judged samples (slow)."""
    ckpt, data = get_model(model_id), get_dataset(dataset)
    check_encode_budget(model_id, ckpt, len(data.split("train")[0]) + len(data.split(split)[0]))
    return _metrics(model_key(model_id), dataset, split, quick, ckpt)


@st.cache_data(show_spinner="Computing metrics…", max_entries=64)
def _metrics(key: str, dataset: str, split: str, quick: bool, _ckpt: Checkpoint) -> dict[str, Any]:
    from aeviz.metrics.evaluation import evaluate
    from aeviz.metrics.codes import code_metrics
    data = get_dataset(dataset)
    out = dict(evaluate(_ckpt, data, split=split, quick=quick))
    if quick:
        x_train, y_train = data.split("train")
        x, y = data.split(split)
        model = _ckpt.model
        out.update(code_metrics(x, model.encode_numpy(x_train), y_train, model.encode_numpy(x), y,
                                loo=split == "train"))
    return out


def get_prior_images(model_id: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` codes from the model's prior (``families.prior_draws``) and their decodings."""
    return _prior(model_key(model_id), int(n), int(seed), get_model(model_id))


@st.cache_data(max_entries=64)
def _prior(key: str, n: int, seed: int, _ckpt: Checkpoint) -> tuple[np.ndarray, np.ndarray]:
    z = prior_draws(_ckpt.model, n, seed)
    return z, _ckpt.model.decode_numpy(z)


def decode(model_id: str, z: np.ndarray) -> np.ndarray:
    """Decode codes (N, D) to (N, *input_shape); uncached, a few images take milliseconds."""
    z = np.asarray(z, dtype=np.float32)
    ckpt = get_model(model_id)
    if z.ndim != 2 or z.shape[1] != ckpt.config.latent_dim:
        raise ProjectionError(f"codes must be (N, {ckpt.config.latent_dim}) for {model_id}, got {z.shape}")
    return ckpt.model.decode_numpy(z)


def get_data_distance(model_id: str, dataset: str, split: str, seed: int):
    """The fitted distance-to-the-data of a model's codes (fitting costs ~0.7 s at 60k points)."""
    return _data_distance(model_key(model_id), dataset, split, int(seed),
                          get_codes(model_id, dataset, split))


@st.cache_resource(max_entries=16)
def _data_distance(key: str, dataset: str, split: str, seed: int, _codes: np.ndarray):
    from aeviz.latent.trust import DataDistance
    return DataDistance(random_state=seed).fit(_codes)


def neighbours(codes: np.ndarray, index: int, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` codes nearest to ``codes[index]``, nearest first, itself excluded."""
    from aeviz.latent.trust import neighbours as nearest_codes
    return nearest_codes(codes, index, k)


@st.cache_resource
def warm_compute() -> threading.Thread:
    """Once per server process: ``compute.warm`` in a background thread (see there), started
    by app.py so the first upload or Train page does not pay ~2 s of imports."""
    worker = threading.Thread(target=compute.warm, name="aeviz-warm-compute", daemon=True)
    worker.start()
    return worker


def get_timeline(model_id: str):
    """The model's training timeline (``training.timeline.Timeline``) with aligned 2-D frames,
    or None when it was trained without one."""
    ckpt = get_model(model_id)
    return None if ckpt.path is None else _timeline(model_key(model_id), ckpt)


@st.cache_data(show_spinner="Reading the training timeline…", max_entries=32)
def _timeline(key: str, _ckpt: Checkpoint):
    from aeviz.maps.aligned import aligned_frames
    from aeviz.training import timeline
    found = timeline.read(_ckpt.path, _ckpt.model)
    if found is None:
        return None
    frames, how = aligned_frames(found.codes)
    return found, frames.astype(np.float32), how


def get_model_at(model_id: str, epoch: int):
    """The model with the weights its timeline recorded after ``epoch``."""
    return _model_at(model_key(model_id), int(epoch), get_model(model_id))


@st.cache_resource(max_entries=16)
def _model_at(key: str, epoch: int, _ckpt: Checkpoint):
    from aeviz.training import timeline
    return timeline.weights_at(_ckpt.path, _ckpt.model, epoch)


def get_prior_map(model_id: str, dataset: str, split: str, method: str, params: dict, seed: int,
                  n: int) -> np.ndarray:
    """(n, 2): ``n`` seeded draws of the model's prior placed by the map's projection: drawn and
    transformed once per model, map and seed, not on every rerun."""
    proj = get_projector(model_id, dataset, split, method, params, seed)
    return _prior_map(model_key(model_id), dataset, split, method, tuple(sorted(params.items())), int(seed),
                      int(n), get_model(model_id), proj)


@st.cache_data(max_entries=32)
def _prior_map(key: str, dataset: str, split: str, method: str, params: tuple, seed: int, n: int,
               _ckpt: Checkpoint, _proj) -> np.ndarray:
    return np.asarray(_proj.transform(prior_draws(_ckpt.model, n, seed)), dtype=np.float32)
