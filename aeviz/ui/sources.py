"""Where models come from, named by validated ids that never are raw user paths.

A model id is ``"<kind>:<name>"`` with ``name`` passing ``aeviz.paths.safe_name``:

    pretrained:digits-vae-2   folder ``pretrained/<name>`` shipped in the repository; for a
                              missing one named ``<dataset>-<family>-<latent>`` on a built-in
                              dataset, ``cache.get_model`` trains it in seconds by
                              its zoo recipe (``zoo.builtin_entry``) instead
    user:my-model             folder ``aeviz.paths.user_models_dir()/<name>`` (Train page saves there)
    upload:3f2a9c...          a checkpoint .zip uploaded in THIS session (kept in session state);
                              the name hashes the checkpoint's config.json + model.safetensors
    pca:digits-2              the linear baseline: PCA with 2 components fitted on a dataset's train split

Public API (stable; UI pages use it):
    parse_model_id(text) -> ModelRef            raises ConfigError for anything else
    ModelRef(kind, name); str(ref) == model id; ref.folder() -> Path | None
    model_meta(model_id) -> dict                  {"family", "latent_dim", "input_shape", "dataset"} without loading weights
    list_models(dataset, sample_shape) -> list[str]   every model id usable with this dataset
    model_label(model_id) -> str                  short human label: "VAE · digits-vae-2", "PCA · 2 components"
    add_upload(data, filename) -> str             extract + load a checkpoint .zip; returns its id
    remove_upload(model_id)                       forget an upload and delete its files
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from aeviz.data import archive
from aeviz.data.registry import kin
from aeviz.models import checkpoint
from aeviz.models import folder as mfolder
from aeviz.models.config import ModelConfig
from aeviz.core import limits
from aeviz.core.errors import AevizError, CheckpointError, ConfigError
from aeviz.core.paths import pretrained_dir, safe_name, user_models_dir
from aeviz.ui import state
from aeviz.ui.text import md
from aeviz.zoo import recipes as zoo

KINDS = ("pretrained", "user", "upload", "pca")
_PCA = re.compile(r"(?P<dataset>[a-z][a-z-]*?)-(?P<k>[1-9][0-9]{0,2})")


@dataclass(frozen=True)
class ModelRef:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def folder(self) -> Path | None:
        """The checkpoint folder for pretrained/user ids (None for upload/pca or if absent)."""
        base = {"pretrained": pretrained_dir, "user": user_models_dir}.get(self.kind)
        if base is None:
            return None
        path = base() / self.name
        return path if (path / checkpoint.CONFIG).is_file() else None


def parse_model_id(text: Any) -> ModelRef:
    """Validate ``"<kind>:<name>"``; the name is one safe path component."""
    if not isinstance(text, str) or ":" not in text:
        raise ConfigError(f"invalid model id {text!r:.80}: expected '<kind>:<name>' with kind one "
                          f"of {', '.join(KINDS)}, e.g. 'pretrained:digits-vae-2'")
    kind, name = text.split(":", 1)
    if kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r:.40}; known: {', '.join(KINDS)}")
    safe_name(name)
    if kind == "pca" and not _PCA.fullmatch(name):
        raise ConfigError(f"invalid PCA baseline {name!r}: expected '<dataset>-<components>', e.g. 'digits-2'")
    return ModelRef(kind, name)


def pca_spec(name: str) -> tuple[str, int]:
    m = _PCA.fullmatch(name)
    if not m:
        raise ConfigError(f"invalid PCA baseline {name!r}: expected '<dataset>-<components>'")
    return m["dataset"], int(m["k"])


def model_meta(model_id: str) -> dict[str, Any]:
    """Family, latent size, input shape and training dataset, read without loading weights."""
    ref = parse_model_id(model_id)
    if ref.kind == "pca":
        ds, k = pca_spec(ref.name)
        return {"family": "pca", "latent_dim": k, "input_shape": None, "dataset": ds}
    if ref.kind == "upload":
        ckpt = state.uploads().get(model_id)
        if ckpt is None:
            raise CheckpointError(f"uploaded model {ref.name} is not in this session any more; upload it again")
        return {"family": ckpt.config.family, "latent_dim": ckpt.config.latent_dim,
                "input_shape": tuple(ckpt.config.input_shape), "dataset": ckpt.dataset_name}
    folder = ref.folder()
    if folder is not None:
        return dict(_folder_meta(str(folder), (folder / checkpoint.CONFIG).stat().st_mtime_ns))
    entry = zoo.builtin_entry(ref.name) if ref.kind == "pretrained" else None
    if entry is None:
        raise CheckpointError(f"model {model_id} was not found; pick another from the list")
    return {"family": entry.model.family, "latent_dim": entry.model.latent_dim, "input_shape": None,
            "dataset": entry.dataset}


@functools.lru_cache(maxsize=256)
def _folder_meta(folder: str, mtime_ns: int) -> dict[str, Any]:
    # keyed by the file's mtime: a rewritten config.json is read again
    meta = checkpoint.read_json(Path(folder) / checkpoint.CONFIG, "config")
    try:
        cfg = ModelConfig.from_dict(meta.get("model") if isinstance(meta, dict) else None)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"invalid config in {folder}: {e}") from None
    return {"family": cfg.family, "latent_dim": cfg.latent_dim, "input_shape": tuple(cfg.input_shape),
            "dataset": str(meta.get("dataset") or "")[:64]}


def _fits(meta: dict[str, Any], dataset: str, sample_shape: tuple[int, ...]) -> bool:
    if meta["input_shape"] is None:            # recipes and PCA baselines are per dataset
        return meta["dataset"] == dataset
    return tuple(meta["input_shape"]) == tuple(sample_shape)


def belongs(model_id: str, dataset: str) -> bool:
    """Was the model trained on ``dataset`` (or the dataset it was drawn from)? A model of
    another dataset of the same shape can encode it, but its pictures mean little."""
    try:
        return model_meta(model_id)["dataset"] in kin(dataset)
    except AevizError:
        return False


def recover_user_models() -> list[str]:
    """Put back the user models whose save was killed midway (``folder.recover_all``), saying so."""
    names = mfolder.recover_all(user_models_dir())
    if names:
        st.warning(md("Recovered {} from an interrupted save: {}.",
                      "a model" if len(names) == 1 else f"{len(names)} models", ", ".join(names)),
                   icon=":material/restore:")
    return names


def list_models(dataset: str, sample_shape: tuple[int, ...]) -> list[str]:
    """Every model id that can encode ``dataset``: its own first, then other compatible ones.

    Interrupted saves of user models are recovered first, with a notice on the page."""
    recover_user_models()
    ids: list[str] = []
    if dataset in zoo.BUILTIN_DATASETS:
        ids += [f"pretrained:{dataset}-{f}-{k}" for k in (2, 8) for f in ("ae", "vae")]
    for kind, base in (("pretrained", pretrained_dir()), ("user", user_models_dir())):
        if base.is_dir():
            ids += [f"{kind}:{p.name}" for p in sorted(base.iterdir())
                    if (p / checkpoint.CONFIG).is_file() and _valid_name(p.name)]
    ids += list(state.uploads())
    ids += [f"pca:{dataset}-{k}" for k in (2, 8)]
    own, other = [], []
    for model_id in dict.fromkeys(ids):        # dedupe, keep order
        try:
            meta = model_meta(model_id)
        except AevizError:
            continue                           # a broken folder is not offered; Explore reports on load
        if _fits(meta, dataset, sample_shape):
            (own if meta["dataset"] in kin(dataset) else other).append(model_id)
    return own + other


def _valid_name(name: str) -> bool:
    try:
        safe_name(name)
    except ConfigError:
        return False
    return True


def model_label(model_id: str) -> str:
    """Short plain-text label for pickers and captions: "VAE · digits-vae-2" / "PCA · 2 components".

    Uploads are named by file, family and latent size: "my_model.zip · vae-2". The label holds
    user text: escape it (``aeviz.ui.text``) wherever Streamlit renders Markdown.
    """
    try:
        ref = parse_model_id(model_id)
        meta = model_meta(model_id)
    except AevizError:
        return model_id
    if ref.kind == "pca":
        return f"PCA · {meta['latent_dim']} components"
    if ref.kind == "upload":
        file = st.session_state.get(_FILES, {}).get(model_id) or f"upload {ref.name[:8]}"
        return f"{file} · {meta['family']}-{meta['latent_dim']}"
    where = "" if ref.kind != "user" else " (yours)" if ref.name in state.own_models() else " (saved)"
    return f"{meta['family'].upper()} · {ref.name}{where}"


# Session-state keys of the upload bookkeeping (beside state.UPLOADS, which holds the models):
_ZIPS = "aeviz.upload_zips"       # {sha256 of a .zip sent: model id}: a re-sent file is not unpacked again
_FILES = "aeviz.upload_files"     # {model id: the .zip's file name as sent}, for labels
DATA_DIR = ".data"                # in session_dir(): uploaded datasets (aeviz.ui.datasets)


def session_dir() -> Path:
    """This session's private temp folder (created on first use).

    Held as a TemporaryDirectory in session state: when Streamlit drops the
    session's state, the object is collected and the folder removed with it.
    Uploaded checkpoints live in ``<session_dir>/<digest>/``, uploaded datasets in
    ``<session_dir>/.data/<digest>/`` (``aeviz.ui.datasets``); nothing else is kept there.
    """
    ss = st.session_state
    holder = ss.get(state.SESSION_DIR)
    if not isinstance(holder, tempfile.TemporaryDirectory) or not Path(holder.name).is_dir():
        holder = ss[state.SESSION_DIR] = tempfile.TemporaryDirectory(prefix="aeviz-session-")
    return Path(holder.name)


def add_upload(data: bytes, filename: str = "model.zip") -> str:
    """Extract an uploaded checkpoint .zip into this session's folder and load it.

    Returns ``upload:<digest>``, the digest hashing the checkpoint's config.json and
    model.safetensors: the same model sent again, even zipped anew, is stored once.
    Only the checkpoint's own files are kept (``folder.is_checkpoint_file``); at most
    UPLOAD_SESSION_MAX_MODELS models and UPLOAD_SESSION_MAX_BYTES of them per session.
    A refused upload leaves nothing behind in ``session_dir()``.
    """
    filename = archive.shown(Path(str(filename)).name)[:limits.UPLOAD_NAME_MAX_CHARS]   # as shown
    if len(data) > limits.UPLOAD_MAX_BYTES:
        raise CheckpointError(f"{filename} is {len(data) / 2**20:.0f} MB; the limit is "
                              f"{limits.UPLOAD_MAX_BYTES // 2**20} MB")
    zips = st.session_state.setdefault(_ZIPS, {})
    sent = hashlib.sha256(data).hexdigest()
    if zips.get(sent) in state.uploads():
        return zips[sent]
    root = session_dir()
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        archive.safe_extract(data, incoming)
        found = _find_checkpoint_folder(incoming, filename)
        model_id = f"upload:{_content_digest(found)}"
        if model_id not in state.uploads():            # the count is checked here: a model it has is fine
            if len(state.uploads()) >= limits.UPLOAD_SESSION_MAX_MODELS:
                raise CheckpointError(f"this session already holds {len(state.uploads())} uploaded "
                                      "models, the most one session keeps: remove one (✕ beside its "
                                      "name, under the upload box) and upload again")
            _keep(found, root / model_id.split(":", 1)[1], filename)
            st.session_state.setdefault(_FILES, {})[model_id] = filename
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    zips[sent] = model_id
    return model_id


def _keep(found: Path, dest: Path, filename: str) -> None:
    """Move the checkpoint's own files to ``dest``, check the byte quota, load; undo on refusal."""
    try:
        shutil.rmtree(dest, ignore_errors=True)      # a stale folder of a model no longer in state
        dest.mkdir()
        for path in sorted(found.rglob("*")):
            rel = path.relative_to(found).as_posix()
            if path.is_file() and not path.is_symlink() and mfolder.is_checkpoint_file(rel):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest / rel)
        used = sum(folder_bytes(p) for p in dest.parent.iterdir() if p.is_dir() and p != dest
                   and not p.name.startswith("."))
        size = folder_bytes(dest)
        if used + size > limits.UPLOAD_SESSION_MAX_BYTES:
            raise CheckpointError(
                f"{filename} holds a {size / 2**20:.0f} MB checkpoint and this session keeps "
                f"{used / 2**20:.0f} MB of uploads already; one session keeps at most "
                f"{limits.UPLOAD_SESSION_MAX_BYTES // 2**20} MB: remove an uploaded model (✕ beside "
                "its name, under the upload box) and upload again")
        others = other_sessions_bytes(dest.parent) + folder_bytes(dest.parent / DATA_DIR)
        if others + used + size > limits.UPLOAD_SERVER_MAX_BYTES:
            raise CheckpointError(
                f"this server keeps {(others + used) / 2**20:.0f} MB of uploads for all its sessions "
                f"and at most {limits.UPLOAD_SERVER_MAX_BYTES // 2**20} MB: {filename} "
                f"({size / 2**20:.0f} MB) does not fit right now; remove an upload, try again once "
                "other sessions have closed, or use the CLI (`python -m aeviz eval`) on your machine")
        state.uploads()[f"upload:{dest.name}"] = checkpoint.load_checkpoint(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def remove_upload(model_id: str) -> None:
    """Forget an uploaded model and delete its files (the session's room is freed)."""
    ref = parse_model_id(model_id)
    if ref.kind != "upload":
        raise ConfigError(f"{model_id} is not an uploaded model; only uploads can be removed")
    state.uploads().pop(model_id, None)
    st.session_state.get(_FILES, {}).pop(model_id, None)
    zips = st.session_state.get(_ZIPS, {})
    for sent in [k for k, v in zips.items() if v == model_id]:
        del zips[sent]
    shutil.rmtree(session_dir() / ref.name, ignore_errors=True)


def _content_digest(found: Path) -> str:
    """sha256 of config.json and model.safetensors (names included), 16 hex digits."""
    h = hashlib.sha256()
    for name in (checkpoint.CONFIG, checkpoint.WEIGHTS):
        h.update(name.encode() + b"\0")
        if (found / name).is_file():                 # safe_extract wrote no links
            with open(found / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()[:16]


def other_sessions_bytes(own: Path) -> int:
    """Bytes the other sessions of this machine keep: their ``aeviz-session-*`` folders lie
    beside ours (one person with many tabs still meets the server's limit)."""
    return sum(folder_bytes(p) for p in own.parent.glob("aeviz-session-*")
               if p != own and p.is_dir() and not p.is_symlink())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _find_checkpoint_folder(root: Path, filename: str) -> Path:
    """The checkpoint may sit at the zip's root or in one top-level folder."""
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    for folder in candidates:
        if (folder / checkpoint.CONFIG).is_file():
            return folder
    raise CheckpointError(f"{filename} holds no {checkpoint.CONFIG} at its top level or in one "
                          "folder: zip the checkpoint folder written by `python -m aeviz train` "
                          "(config.json + model.safetensors)")


__all__ = ["KINDS", "ModelRef", "parse_model_id", "pca_spec", "model_meta",
           "list_models", "model_label", "add_upload", "remove_upload", "session_dir", "pretrained_dir"]
