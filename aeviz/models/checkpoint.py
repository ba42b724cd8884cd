"""Checkpoint folders: config.json + model.safetensors (+ history.json, metrics.json, maps/).

Nothing is ever unpickled. Every file is read through ``aeviz.core.reading``
(inside the folder, a regular file, bounded: the weights by what the config's
model needs). The safetensors header is checked against the model the config
builds *before* any tensor is made, so a lying header cannot make us allocate
memory. Saves build the whole folder under a
temporary name and rename it into place, so a crash leaves the previous
checkpoint intact.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core import files, owned
from aeviz.models import folder
from aeviz.models.folder import CONFIG, FORMAT, HISTORY, METRICS, VERSION, WEIGHTS
from aeviz.core import limits, reading
from aeviz.core.errors import CheckpointError, ConfigError
from aeviz.models.families import Autoencoder, build

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".h5", ".keras"}
_REFUSED = ("aeviz never unpickles files (unpickling can run arbitrary code). A checkpoint is a "
            "folder with config.json and model.safetensors, as written by `python -m aeviz train`.")


@dataclass
class Checkpoint:
    """A model with the whole recipe that made it: every training stage, in order."""
    model: Autoencoder
    config: ModelConfig
    path: Path | None = None
    stages: tuple[TrainConfig, ...] = ()
    dataset_name: str = ""
    command: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Autoencoder, stages: Sequence[TrainConfig] = (), dataset_name: str = "",
           command: str = "", history: list | None = None) -> "Checkpoint":
        """An in-memory checkpoint (not saved yet): what ``evaluate`` and the app consume."""
        return cls(model, model.config, None, tuple(stages), dataset_name, command, list(history or []))

    @property
    def train_config(self) -> TrainConfig | None:
        """The first stage (its data settings, e.g. ``binarize``, hold for the whole recipe)."""
        return self.stages[0] if self.stages else None

    @property
    def name(self) -> str:
        return self.path.name if self.path else self.config.family


def save_checkpoint(path: str | Path, model: Autoencoder, *, stages: Sequence[TrainConfig] = (),
                    dataset_name: str = "", command: str = "", history: list | None = None,
                    metrics: dict | None = None, half: bool = False,
                    extra_files: dict[str, Path] | None = None) -> Path:
    """Write the folder at ``path`` atomically (replacing an old one only once complete).

    stages: every TrainConfig the model was trained with, in order; config.json
    keeps all of them (``stages``) and, for older readers, the first (``train``).
    Only a folder that ``check_replaceable`` proves is an aeviz checkpoint is
    replaced; one writer per path at a time (owned.Busy for the second).
    """
    path = Path(path)
    stages = tuple(stages)
    bad = [n for n in (extra_files or {}) if not folder.is_checkpoint_file(n)]
    if bad:
        raise CheckpointError(f"{bad[0]!r} is not a file of a checkpoint folder (only maps/NAME.npz and the timeline)")
    meta = {"format": FORMAT, "version": VERSION, "model": model.config.to_dict(),
            "train": stages[0].to_dict() if stages else None,
            "stages": [s.to_dict() for s in stages],
            "dataset": dataset_name, "command": command}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(_cannot_write(path, e)) from None
    with owned.writer_lock(path, "the checkpoint"):
        folder.recover(path)
        folder.check_replaceable(path)
        folder.remove_stale(path)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        except OSError as e:
            raise CheckpointError(_cannot_write(path, e)) from None
        try:
            _write_folder(tmp, model, meta, half, history, metrics, extra_files)
            folder.swap_into_place(tmp, path)
        except OSError as e:        # disk full, read-only folder: say so, leave nothing behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise CheckpointError(_cannot_write(path, e)) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return path


def _write_folder(tmp: Path, model: Autoencoder, meta: dict, half: bool, history, metrics,
                  extra_files) -> None:
    # serialised in memory, written by us: a full disk is an OSError, never safetensors' own error
    (tmp / WEIGHTS).write_bytes(weights_bytes(model.state_dict(), half))
    _write_json(tmp / CONFIG, meta)
    _write_json(tmp / HISTORY, history or [])
    _write_json(tmp / METRICS, metrics or {})
    for name, src in (extra_files or {}).items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tmp / name)
    _fsync_tree(tmp)


def weights_bytes(state: dict[str, torch.Tensor], half: bool = False) -> bytes:
    """A state dict as safetensors bytes (float16 when ``half``): what ``read_weights`` reads."""
    tensors = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in state.items()}
    return save_tensors(tensors, metadata={"format": FORMAT})


def _cannot_write(path: Path, e: OSError) -> str:
    return (f"cannot write the checkpoint {path} ({e.strerror or e}): the disk may be full or the "
            "folder read-only; free some space or choose another folder. What was there before "
            "is unchanged.")


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace one JSON file inside a checkpoint (e.g. metrics.json) atomically."""
    try:
        files.write_json_atomic(path, data)
    except OSError as e:
        raise CheckpointError(_cannot_write(path, e)) from None


def _write_json(path: Path, data: Any) -> None:
    path.write_text(files.json_dumps(data, indent=1))     # inside the temporary folder: atomic by rename


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


_RESAVE = "re-save the model"


def read_json(path: str | Path, what: str, kind: type | None = None) -> Any:
    """One JSON file of a checkpoint folder, read bounded from inside that folder (CheckpointError)."""
    path = Path(path)
    return reading.read_json(path, root=path.parent, max_bytes=limits.CHECKPOINT_MAX_JSON_BYTES,
                             what=what, kind=kind, error=CheckpointError, hint=_RESAVE)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and strictly validate a checkpoint folder."""
    path = Path(path)
    folder.recover(path)
    _refuse_non_folder(path)
    for name in (CONFIG, WEIGHTS):
        if not os.path.lexists(path / name):            # present but odd: the reader says what is wrong
            raise CheckpointError(f"{path} has no {name}. {_REFUSED}")
    meta = read_json(path / CONFIG, "config")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path / CONFIG} is not an aeviz config (missing \"format\": \"{FORMAT}\")")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {meta.get('version')!r} is not supported "
                              f"(this aeviz reads version {VERSION}); upgrade aeviz")
    try:
        config = ModelConfig.from_dict(meta.get("model"))
        stages = _stages(meta)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"invalid config in {path / CONFIG}: {e}") from None
    # built on the meta device: no memory is spent on weights until the file's
    # header has been checked against the config, then the loaded tensors are
    # assigned in place of the meta ones
    with torch.device("meta"):
        model = build(config)
    state = read_weights(path / WEIGHTS, model)
    model.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise CheckpointError(f"{path / WEIGHTS} does not hold every tensor the config needs; re-save the model")
    model.to(device).eval()
    history = _optional_json(path / HISTORY, list)
    metrics = _optional_json(path / METRICS, dict)
    return Checkpoint(model, config, path, stages, str(meta.get("dataset") or "")[:64],
                      str(meta.get("command") or "")[:2000], history, metrics)


def _stages(meta: dict) -> tuple[TrainConfig, ...]:
    """Every training stage: ``stages`` (a list), else the single ``train`` of older folders."""
    first = TrainConfig.from_dict(meta["train"]) if meta.get("train") else None
    raw = meta.get("stages")
    if raw is None:
        return (first,) if first else ()
    if not isinstance(raw, list) or len(raw) > limits.CHECKPOINT_MAX_STAGES:
        raise ConfigError(f"'stages' must be a list of at most {limits.CHECKPOINT_MAX_STAGES} "
                          "training configs")
    stages = tuple(TrainConfig.from_dict(s) for s in raw)
    if first is not None and stages[:1] != (first,):
        raise ConfigError("'train' and the first of 'stages' disagree; re-save the model")
    return stages


def _optional_json(path: Path, kind: type) -> Any:
    """history.json / metrics.json: absent is empty; present but a link out, a pipe, too big or
    of the wrong type is refused (CheckpointError)."""
    if not os.path.lexists(path):
        return kind()
    return read_json(path, "checkpoint file", kind)


def _refuse_non_folder(path: Path) -> None:
    if path.is_dir():
        return
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: expected a folder with {CONFIG} and {WEIGHTS}")
    kind = "a pickle/PyTorch file" if path.suffix.lower() in _PICKLE_SUFFIXES else "a file"
    raise CheckpointError(f"{path.name} is {kind}, not a checkpoint folder, and is refused. {_REFUSED}")


def read_weights(file: Path, model: Autoencoder) -> dict[str, torch.Tensor]:
    """Read the weights bounded by what ``model`` needs; check the header against it before any tensor."""
    need = sum(t.numel() * 4 for t in model.state_dict().values())     # float32 at most (DTYPES)
    raw = reading.read_bytes(file, root=file.parent, what="weights", error=CheckpointError, hint=_RESAVE,
                             max_bytes=8 + limits.CHECKPOINT_MAX_HEADER_BYTES + need)
    size = len(raw)
    if size < 8:
        raise CheckpointError(f"{file.name} is truncated ({size} bytes); re-save the model")
    head, first = raw[:8], raw[8:9]                     # a safetensors header is JSON: '{'
    (n,) = struct.unpack("<Q", head)
    if first != b"{" and _looks_pickled(head):
        raise CheckpointError(f"{file.name} is a pickle/PyTorch archive renamed .safetensors and "
                              f"is refused without being opened. {_REFUSED}")
    if not 2 <= n <= min(limits.CHECKPOINT_MAX_HEADER_BYTES, size - 8) or first != b"{":
        raise CheckpointError(f"{file.name} has an invalid header (length {n} for a "
                              f"{size}-byte file): it is truncated or not a safetensors file")
    try:
        header = json.loads(raw[8:8 + n])
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{file.name} has a corrupt header; re-save the model") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{file.name} has a corrupt header; re-save the model")
    header.pop("__metadata__", None)
    _check_entries(file.name, header, model, size - 8 - n)
    try:
        state = load_tensors(raw)
    except Exception as e:  # safetensors raises its own types; report them at this boundary
        raise CheckpointError(f"{file.name} could not be read: {e}") from None
    del raw
    wanted = model.state_dict()                        # float16 storage -> the model's dtypes
    return {k: v.to(wanted[k].dtype, copy=True).contiguous() for k, v in state.items()}


def _looks_pickled(head: bytes) -> bool:
    """Pickle protocol 2-5 opcode, or the zip container torch.save writes."""
    return (head[0] == 0x80 and 2 <= head[1] <= 5) or head[:2] == b"PK"


def _check_entries(name: str, header: dict, model: Autoencoder, data_bytes: int) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if set(header) != set(expected):
        missing, extra = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
        raise CheckpointError(f"{name} does not match its config: missing tensors {missing[:5]}, "
                              f"unexpected tensors {extra[:5]}")
    end = 0
    for key, info in header.items():
        if not isinstance(info, dict) or not isinstance(info.get("dtype"), str) or \
                info.get("dtype") not in DTYPES:
            raise CheckpointError(f"{name}: tensor {key!r} has dtype {info.get('dtype') if isinstance(info, dict) else '?'}; "
                                  f"allowed: {', '.join(DTYPES)}")
        if not isinstance(info.get("shape"), list) or tuple(info["shape"]) != expected[key]:
            raise CheckpointError(f"{name}: tensor {key!r} has shape {info.get('shape')}, the config "
                                  f"needs {list(expected[key])}")
        offsets = info.get("data_offsets")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"{name}: tensor {key!r} has invalid data offsets")
        end = max(end, offsets[1])
    if end != data_bytes:
        raise CheckpointError(f"{name} is truncated or padded: tensors need {end} bytes, the file has "
                              f"{data_bytes}; re-save the model")
