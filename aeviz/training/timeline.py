"""Watching a latent space form: the codes of a fixed, seeded subset of images at a schedule of
epochs (more early, fewer late) and the weights at a few of them, kept in the checkpoint folder.

Files (written through ``save_checkpoint``'s ``extra_files``, read back bounded and validated):

    timeline.npz                    epochs (F,) int32, index (P,) int64 rows of the split,
                                    codes (F, P, D) float16, weight_epochs (W,) int32, split (1,) str
    timeline/epoch-NNNN.safetensors the weights after epoch NNNN (float16), for W of the F epochs

Recording only reads the model between epochs (eval-mode codes, no random numbers), so a run
with a timeline trains exactly the weights of the same run without one.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aeviz.core import limits, reading
from aeviz.core.errors import CheckpointError, ConfigError
from aeviz.models import checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.models.families import Autoencoder, build
from aeviz.training.loop import seeded_model

FILE = "timeline.npz"
FOLDER = "timeline"
POINTS = 2000
MAX_FRAMES = 24
WEIGHT_FRAMES = 3                   # besides the checkpoint's own (final) weights
NAMES = ("epochs", "index", "codes", "weight_epochs", "split")


def schedule(epochs: int, max_frames: int = MAX_FRAMES) -> tuple[int, ...]:
    """Epochs to record: 0 (before training), then geometric (1, 2, 3, 4, 6, 8, ...), the last always."""
    if epochs < 1:
        raise ConfigError(f"a timeline needs at least one epoch, got {epochs}")
    steps = np.unique(np.round(np.geomspace(1, epochs, max(1, max_frames - 1))).astype(int))
    return (0, *(int(e) for e in steps))


def weight_schedule(frames: tuple[int, ...], n: int = WEIGHT_FRAMES) -> tuple[int, ...]:
    """n recorded epochs spread over the run (the first included), the final one excluded:
    it is the checkpoint's own weights."""
    inner = frames[:-1]
    if not inner:
        return ()
    picks = np.unique(np.round(np.linspace(0, len(inner) - 1, min(n, len(inner)))).astype(int))
    return tuple(inner[i] for i in picks)


def subset(n: int, points: int = POINTS, seed: int = 0) -> np.ndarray:
    """(P,) sorted row indices: the same images for every model trained with this seed."""
    if n <= points:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, points, replace=False)).astype(np.int64)


@dataclass
class Timeline:
    epochs: np.ndarray                   # (F,) int
    index: np.ndarray                    # (P,) rows of ``split``
    codes: np.ndarray                    # (F, P, D) float32
    split: str = "test"
    weight_epochs: tuple[int, ...] = ()  # epochs whose weights are kept (read: ``weights_at``)
    weights: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)   # recorded: epoch -> state


def watch(enabled: bool, config: ModelConfig, stage: TrainConfig, epochs: int, x_test: np.ndarray | None,
          x_train: np.ndarray | None = None, **kw) -> "Recorder | None":
    """A Recorder on the model ``train`` would build for ``stage`` (pass ``recorder.model`` to it),
    on the test split (the train split when there is none); None when not ``enabled`` or the
    family is fitted in one go. ``epochs``: of the whole run (every stage)."""
    if not enabled or config.family_class.closed_form:
        return None
    test = x_test is not None and len(x_test) > 0
    return Recorder(seeded_model(config, stage.seed), x_test if test else x_train, epochs,
                    split="test" if test else "train", seed=stage.seed, **kw)


class Recorder:
    """An ``on_epoch`` callback for ``train``: ``Recorder(model, x, epochs)`` records epoch 0 at once."""

    def __init__(self, model: Autoencoder, x: np.ndarray, epochs: int, *, split: str = "test",
                 seed: int = 0, points: int = POINTS, weight_frames: int = WEIGHT_FRAMES):
        self.model, self.split = model, split
        self.index = subset(len(x), points, seed)
        self.x = np.asarray(x)[self.index]
        self.frames = schedule(epochs)
        # float16 weights at a few epochs, unless they would outgrow the budget (then codes only)
        weight_bytes = 2 * sum(v.numel() for v in model.state_dict().values()) * weight_frames
        self.keep_weights = set(weight_schedule(self.frames, weight_frames)) \
            if weight_frames and weight_bytes <= limits.TIMELINE_MAX_WEIGHT_BYTES else set()
        codes_values = len(self.frames) * len(self.index) * model.config.latent_dim
        if codes_values > limits.TIMELINE_MAX_VALUES:
            raise ConfigError(f"a timeline of {len(self.frames)} frames x {len(self.index)} points x "
                              f"{model.config.latent_dim} dimensions is more than {limits.TIMELINE_MAX_VALUES:,} "
                              "values; record fewer points")
        self._codes: dict[int, np.ndarray] = {}
        self._weights: dict[int, dict[str, torch.Tensor]] = {}
        self.record(0)

    def on_epoch(self, epoch: int, row: dict | None = None) -> None:
        if epoch in self.frames:
            self.record(epoch)

    def record(self, epoch: int) -> None:
        self._codes[epoch] = self.model.encode_numpy(self.x)                   # (P, D)
        if epoch in self.keep_weights:
            self._weights[epoch] = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def timeline(self) -> Timeline:
        epochs = sorted(self._codes)
        return Timeline(np.array(epochs), self.index, np.stack([self._codes[e] for e in epochs]),
                        self.split, tuple(sorted(self._weights)), dict(self._weights))


def write(timeline: Timeline, into: Path) -> dict[str, Path]:
    """Write the files into the folder ``into``; returns save_checkpoint's ``extra_files`` mapping."""
    into.mkdir(parents=True, exist_ok=True)
    files = {FILE: into / FILE}
    np.savez(files[FILE], epochs=timeline.epochs.astype(np.int32), index=timeline.index.astype(np.int64),
             codes=timeline.codes.astype(np.float16), weight_epochs=np.array(sorted(timeline.weights), np.int32),
             split=np.array([timeline.split]))
    for epoch, state in timeline.weights.items():
        name = f"{FOLDER}/epoch-{epoch:04d}.safetensors"
        files[name] = into / f"epoch-{epoch:04d}.safetensors"
        files[name].write_bytes(checkpoint.weights_bytes(state, half=True))
    return files


def save_with_timeline(path: Path, model: Autoencoder, timeline: Timeline | None, **save) -> Path:
    """``save_checkpoint`` with the timeline's files in the same atomic save."""
    if timeline is None:
        return checkpoint.save_checkpoint(path, model, **save)
    with tempfile.TemporaryDirectory(prefix="aeviz-timeline-") as tmp:
        return checkpoint.save_checkpoint(path, model, extra_files=write(timeline, Path(tmp)), **save)


def read(folder: str | Path, model: Autoencoder) -> Timeline | None:
    """The timeline of a checkpoint folder (None if it has none), validated against ``model``."""
    folder = Path(folder)
    if not (folder / FILE).exists():
        return None
    arrays = reading.read_npz(folder / FILE, root=folder, names=NAMES, what="timeline",
                              max_bytes=limits.TIMELINE_MAX_BYTES, max_inflated_bytes=limits.TIMELINE_MAX_BYTES,
                              error=CheckpointError, hint="re-save the model with --timeline")
    return _validated(arrays, model, folder)


def _validated(a: dict[str, np.ndarray], model: Autoencoder, folder: Path) -> Timeline:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{folder / FILE}: {what}; re-save the model with --timeline")
    if set(a) != set(NAMES):
        raise bad(f"expected the arrays {', '.join(NAMES)}, found {', '.join(sorted(a))}")
    epochs, index, codes, wep = a["epochs"], a["index"], a["codes"], a["weight_epochs"]
    if any(arr.dtype.kind not in "iu" for arr in (epochs, index, wep)) or codes.dtype.kind != "f":
        raise bad("epochs, index and weight_epochs must be integers and codes numbers")
    f, p = len(epochs), len(index)
    if codes.shape != (f, p, model.config.latent_dim) or f < 1 or p < 1:
        raise bad(f"codes have shape {codes.shape}, expected ({f}, {p}, {model.config.latent_dim})")
    if np.any(np.diff(epochs) <= 0) or epochs[0] < 0 or not np.isfinite(codes).all() or index.min() < 0:
        raise bad("epochs must increase from 0, indices be >= 0 and codes be finite")
    if not set(wep.tolist()) <= set(epochs.tolist()):
        raise bad("weights are listed for epochs that have no frame")
    split = str(a["split"].reshape(-1)[0]) if a["split"].dtype.kind == "U" and a["split"].size == 1 else ""
    if split not in ("train", "test"):
        raise bad("split must be 'train' or 'test'")
    return Timeline(epochs.astype(int), index.astype(np.int64), codes.astype(np.float32), split,
                    tuple(int(e) for e in wep))     # the weights themselves are read on demand (weights_at)


def weights_at(folder: str | Path, model: Autoencoder, epoch: int) -> Autoencoder:
    """A copy of ``model`` with the weights recorded after ``epoch``, validated like any checkpoint's."""
    file = Path(folder) / FOLDER / f"epoch-{int(epoch):04d}.safetensors"
    if not math.isfinite(epoch) or not file.exists():
        raise CheckpointError(f"no weights were recorded after epoch {epoch}; pick one of the marked epochs")
    with torch.device("meta"):
        copy = build(model.config)
    copy.load_state_dict(checkpoint.read_weights(file, copy), strict=True, assign=True)
    return copy.eval()
