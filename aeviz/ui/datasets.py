"""This session's own datasets: a user's upload, made a dataset like the registered ones.

An uploaded ``.csv`` / ``.npy`` / ``.npz`` / ``.zip`` of images is parsed by the one
reader, ``aeviz.data.uploads.load_user_data`` (its limits and hostile-input checks),
into a seeded train/test Dataset named ``"upload-<digest>"``. Its arrays are written
to this session's private folder (``sources.session_dir()/.data/<digest>/``) and
memory-mapped back read-only: a kept upload costs disk, not resident memory, and is
counted by the server-wide cap that checkpoint uploads meet too
(``limits.UPLOAD_SERVER_MAX_BYTES``). The Dataset lives in session state
(``state.DATA_UPLOADS``), never in a shared cache, so only the session that sent it
can open it (``cache.get_dataset`` asks here first); links never name it
(``aeviz.ui.query``). The folder goes with the session.

Public API (stable):
    is_upload(name) -> bool        an uploaded dataset's name ("upload-<16 hex digits>")
    names() -> list[str]           this session's uploaded datasets, oldest first
    get(name) -> Dataset           DataError when this session holds no such upload
    label(name) -> str             picker label: "mydata.csv (upload)"; other names as they are
    stem(name) -> str              a short safe name to start model names with ("mydata")
    add(data, filename) -> str     parse, check the quotas, keep; returns the dataset's name
    remove(name)                   forget it and delete its files
    accept(data, filename, sent_id=None, container=st) -> str | None   add() for the uploader:
                                   a refusal is shown (and remembered for a re-sent file)
    uploader(container=st)         the file box under the dataset picker, with a ✕ per upload
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from aeviz.core import limits
from aeviz.core.errors import AevizError, DataError
from aeviz.data.archive import shown
from aeviz.data.dataset import Dataset
from aeviz.data.uploads import READERS, load_user_data
from aeviz.ui import sources, state
from aeviz.ui.text import plain

PREFIX = "upload-"
_NAME = re.compile(r"upload-[0-9a-f]{16}")
DATA_DIR = sources.DATA_DIR           # ".data" in session_dir(): not a checkpoint upload
SUFFIXES = tuple(s.lstrip(".") for s in READERS)     # what load_user_data reads: csv, npy, npz, zip
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
_SENT = "aeviz.data_sent"           # {uploader file id: dataset name, or the refusal shown}
_ROUND = "aeviz.data_round"         # bumped by ✕: a fresh uploader, so the file is not re-added
_SENT_KEPT = 8                      # refusals remembered (a re-sent bad file is not parsed again)


@dataclass(frozen=True)
class Kept:
    filename: str                   # as sent, escaped for messages (archive.shown)
    dataset: Dataset                # arrays memory-mapped from the session folder, read-only


def is_upload(name: Any) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _kept() -> dict[str, Kept]:
    return st.session_state.setdefault(state.DATA_UPLOADS, {})


def names() -> list[str]:
    return list(_kept())


def get(name: str) -> Dataset:
    kept = _kept().get(name)
    if kept is None:
        raise DataError(f"uploaded dataset {str(name)[:40]} is not in this session (an upload stays "
                        "in the browser session that sent it): upload the file again")
    return kept.dataset


def label(name: str) -> str:
    kept = _kept().get(name)
    return f"{kept.filename} (upload)" if kept else str(name)


def stem(name: str) -> str:
    """The file's stem made a safe name for models trained on it; other names as they are."""
    kept = _kept().get(name)
    if kept is None:
        return str(name)
    return re.sub(r"[^A-Za-z0-9_-]+", "-", Path(kept.filename).stem).strip("-_")[:24] or "upload"


def add(data: bytes, filename: str) -> str:
    """Parse an upload into a Dataset of this session; returns its name ("upload-<digest>").

    The same bytes under the same file name are kept once. Refused (DataError) when the
    session keeps UPLOAD_SESSION_MAX_DATASETS already, when its float32 arrays would take
    more than UPLOAD_SESSION_MAX_DATA_BYTES with the session's other datasets, or more than
    UPLOAD_SERVER_MAX_BYTES with every session's uploads; a refusal leaves nothing behind.
    """
    base = Path(str(filename)).name
    where = shown(base)[:limits.UPLOAD_NAME_MAX_CHARS]
    if len(data) > limits.UPLOAD_MAX_BYTES:                # before hashing it (load_user_data checks too)
        raise DataError(f"{where} is {len(data) / 2**20:.1f} MiB; the limit is "
                        f"{limits.UPLOAD_MAX_BYTES / 2**20:.1f} MiB")
    name = PREFIX + hashlib.sha256(base.encode("utf-8", "replace") + b"\0" + bytes(data)).hexdigest()[:16]
    kept = _kept()
    if name in kept:
        return name
    if len(kept) >= limits.UPLOAD_SESSION_MAX_DATASETS:
        raise DataError(f"this session already holds {len(kept)} uploaded datasets, the most one "
                        "session keeps: remove one (✕ beside its name, under the upload box) and "
                        "upload again")
    parsed = load_user_data(data, base, seed=0)          # every limit and hostile-input check
    kept[name] = Kept(where, _store(parsed, name, where))
    return name


def _store(ds: Dataset, name: str, where: str) -> Dataset:
    """Write the arrays into the session folder (quotas first), then map them back read-only."""
    session = sources.session_dir()
    root = session / DATA_DIR
    size = sum(getattr(ds, a).nbytes + 128 for a in _ARRAYS)     # + each .npy header
    mine = sources.folder_bytes(root) if root.is_dir() else 0
    if mine + size > limits.UPLOAD_SESSION_MAX_DATA_BYTES:
        raise DataError(f"{where} makes {size / 2**20:.0f} MB of samples and this session keeps "
                        f"{mine / 2**20:.0f} MB of uploaded data already; one session keeps at most "
                        f"{limits.UPLOAD_SESSION_MAX_DATA_BYTES // 2**20} MB: remove an uploaded dataset "
                        "(✕ beside its name) or upload fewer samples")
    held = sources.other_sessions_bytes(session) + sources.folder_bytes(session)
    if held + size > limits.UPLOAD_SERVER_MAX_BYTES:
        raise DataError(f"this server keeps {held / 2**20:.0f} MB of uploads for all its sessions and at "
                        f"most {limits.UPLOAD_SERVER_MAX_BYTES // 2**20} MB: {where} ({size / 2**20:.0f} MB "
                        "of samples) does not fit right now; try again once other sessions have closed, "
                        "or use the CLI on your machine")
    root.mkdir(exist_ok=True)
    folder = root / name.removeprefix(PREFIX)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        for a in _ARRAYS:
            np.save(incoming / f"{a}.npy", getattr(ds, a), allow_pickle=False)
        shutil.rmtree(folder, ignore_errors=True)           # a stale folder of a removed upload
        incoming.rename(folder)
        arrays = {a: np.load(folder / f"{a}.npy", mmap_mode="r", allow_pickle=False) for a in _ARRAYS}
        return Dataset(ds.name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                       ds.class_names, ds.description)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        raise


def remove(name: str) -> None:
    """Forget an uploaded dataset and delete its files (the session's room is freed)."""
    if not is_upload(name):
        raise DataError(f"{str(name)[:40]} is not an uploaded dataset; only uploads can be removed")
    _kept().pop(name, None)
    sent = st.session_state.get(_SENT, {})
    for key in [k for k, v in sent.items() if v == name]:
        del sent[key]
    shutil.rmtree(sources.session_dir() / DATA_DIR / name.removeprefix(PREFIX), ignore_errors=True)


def accept(data: bytes, filename: str, sent_id: str | None = None, container: Any = st) -> str | None:
    """``add`` for the uploader, which re-sends its file on every rerun: a file already seen
    (by ``sent_id``) costs nothing, its refusal is shown again; a new dataset is selected."""
    sent = st.session_state.setdefault(_SENT, {})
    key = sent_id or hashlib.sha256(bytes(data)).hexdigest()
    if key not in sent:
        try:
            sent[key] = add(data, filename)
            state.set_dataset(sent[key])
        except AevizError as e:
            where = shown(Path(str(filename)).name)[:limits.UPLOAD_NAME_MAX_CHARS]
            sent[key] = f"Upload refused: {e}" if where in str(e) else f"Upload refused: {where}: {e}"
        while len(sent) > _SENT_KEPT:                     # oldest first; the newest is this file
            del sent[next(iter(sent))]
    result = sent[key]
    if is_upload(result) and result in _kept():
        return result
    if not is_upload(result):
        container.error(plain(result), icon="⚠️")
    return None


def uploader(container: Any = st) -> str | None:
    """The sidebar's file box for a user's own data, then each kept upload with a ✕."""
    n = st.session_state.setdefault(_ROUND, 0)
    file = container.file_uploader(
        "Your own data", type=list(SUFFIXES), key=f"_w.upload_data.{n}",
        help="A .csv of numbers (a header row and a text label column are optional), a .npy, a .npz "
             f"(x=..., y=...) or a .zip of images in class folders; at most "
             f"{limits.UPLOAD_MAX_BYTES // 2**20} MB and {limits.UPLOAD_MAX_ITEMS:,} samples. It becomes a "
             "dataset of this browser session only (80% train, 20% test).")
    name = None
    if file is not None:
        name = accept(file.getvalue(), file.name, getattr(file, "file_id", None), container)
    for kept in names():
        ds = _kept()[kept].dataset
        left, right = container.columns([5, 1], vertical_alignment="center")
        left.caption(plain(f"{label(kept)} · {len(ds.x_train) + len(ds.x_test):,} samples of "
                           f"{'x'.join(map(str, ds.sample_shape))}"))
        right.button("✕", key=f"_w.remove_data.{kept}", on_click=_remove, args=(kept,),
                     help="Remove this dataset from the session (deletes its files), to make room "
                          "for another")
    return name


def _remove(name: str) -> None:
    remove(name)
    st.session_state[_ROUND] = st.session_state.get(_ROUND, 0) + 1


__all__ = ["PREFIX", "SUFFIXES", "is_upload", "names", "get", "label", "stem", "add", "remove",
           "accept", "uploader"]
