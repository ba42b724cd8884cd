"""A checkpoint folder's layout, what a save may replace, and recovery of interrupted saves.

A save replaces a folder only when it can prove aeviz wrote it: ``config.json``
with aeviz's format marker and nothing in the folder but the files a
checkpoint holds. The swap is atomic where the OS allows (renameat2
RENAME_EXCHANGE); elsewhere the old folder is moved aside first, and a kill
between the two renames is put right, visibly, by ``recover``.
"""
from __future__ import annotations

import ctypes
import glob
import os
import re
import shutil
import warnings
from pathlib import Path

from aeviz.core import limits, owned, reading
from aeviz.core.errors import AevizError

FORMAT = "aeviz-checkpoint"
VERSION = 1
CONFIG, WEIGHTS, HISTORY, METRICS = "config.json", "model.safetensors", "history.json", "metrics.json"

_MAP_NAME = re.compile(r"maps/[A-Za-z0-9_-]{1,64}\.npz")
_TIMELINE_NAME = re.compile(r"timeline\.npz|timeline/epoch-[0-9]{4}\.safetensors")   # training.timeline


def is_checkpoint_file(rel: str) -> bool:
    """True for the relative paths aeviz writes inside a checkpoint folder."""
    return rel in (CONFIG, WEIGHTS, HISTORY, METRICS) or bool(_MAP_NAME.fullmatch(rel)) or \
        bool(_TIMELINE_NAME.fullmatch(rel))


def extra_files(path: Path) -> dict[str, Path]:
    """The files beyond config, weights, history and metrics that aeviz wrote in the checkpoint
    folder ``path`` (maps, the timeline), as save_checkpoint's ``extra_files`` to carry them over."""
    found = {}
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path).as_posix()
        if file.is_file() and not file.is_symlink() and is_checkpoint_file(rel) and \
                rel not in (CONFIG, WEIGHTS, HISTORY, METRICS):
            found[rel] = file
    return found


def check_replaceable(path: Path) -> None:
    """Refuse (owned.NotOurs) unless ``path`` is absent or a folder aeviz provably wrote.

    Proof: ``config.json`` carries aeviz's format marker and every entry is a
    file aeviz writes in a checkpoint (a user's NOTES.md, a stray folder or a
    symbolic link means it is the user's, and nothing is touched).
    """
    if not os.path.lexists(path):
        return
    hint = "Move your files out, or choose another name or folder."
    if path.is_symlink() or not path.is_dir():
        raise owned.NotOurs(f"{path} exists and is not an aeviz checkpoint folder (it is a file or a "
                            f"link), so aeviz does not replace it: nothing was changed. {hint}")
    if not _has_marker(path):
        raise owned.NotOurs(f"{path} exists and is not an aeviz checkpoint folder (its {CONFIG} is "
                            f"missing or not aeviz's), so aeviz does not replace it: nothing was "
                            f"changed. {hint}")
    owned.refuse_foreign(path, "a checkpoint", owned.foreign_entries(path, is_checkpoint_file), hint)


def _has_marker(folder: Path) -> bool:
    """config.json is a regular file (not a link) holding aeviz's marker (core.reading; any fault = no)."""
    file = folder / CONFIG
    try:
        if file.is_symlink():
            return False
        meta = reading.read_json(file, root=folder, max_bytes=limits.CHECKPOINT_MAX_JSON_BYTES,
                                 what="config", kind=dict)
    except (AevizError, OSError):
        return False
    return meta.get("format") == FORMAT


def _is_ours(folder: Path) -> bool:
    return folder.is_dir() and not folder.is_symlink() and _has_marker(folder) and \
        not owned.foreign_entries(folder, is_checkpoint_file)


def swap_into_place(tmp: Path, path: Path) -> None:
    """tmp -> path. An existing folder is swapped atomically where the OS can (the old one
    ends in tmp, then is removed); otherwise moved aside first (``recover`` undoes a kill
    between the two renames)."""
    if not path.exists():
        os.replace(tmp, path)
        return
    if _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two folders (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


class Recovered(UserWarning):
    """A checkpoint was put back from an interrupted save (shown by the CLI and the app)."""


def recover(path: str | Path) -> bool:
    """If a save was killed between its two renames, put the old folder back (and say so).

    Only a hidden ``.NAME.old-*`` folder that is provably an aeviz checkpoint is moved, and
    only under the writer lock: a save that is between its two renames right now holds
    that lock, so it is left to finish instead of being "recovered" under its feet.
    """
    path = Path(path)
    if os.path.lexists(path) or not _olds(path):
        return False
    try:
        with owned.writer_lock(path, "the checkpoint"):
            olds = _olds(path)
            if os.path.lexists(path) or not olds:
                return False
            os.replace(olds[-1], path)
    except (owned.Busy, OSError):        # being written now, or a read-only folder: nothing to do
        return False
    warnings.warn(f"recovered the checkpoint {path} from an interrupted save ({olds[-1].name})",
                  Recovered, stacklevel=2)
    return True


def _olds(path: Path) -> list[Path]:
    """Hidden ``.NAME.old-*`` checkpoint folders of ``path``, oldest first ([] on any fault)."""
    try:
        return sorted((p for p in path.parent.glob(f".{glob.escape(path.name)}.old-*") if _is_ours(p)),
                      key=lambda p: p.stat().st_mtime)
    except OSError:
        return []


def recover_all(folder: str | Path) -> list[str]:
    """Recover every interrupted save in ``folder``; the names put back."""
    folder = Path(folder)
    names = set()
    try:
        for p in folder.glob(".*.old-*"):
            names.add(p.name[1:].rsplit(".old-", 1)[0])
    except OSError:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Recovered)
        return sorted(n for n in names if n and recover(folder / n))


def remove_stale(path: Path) -> None:
    """With the writer lock held, leftovers of killed saves of ``path`` are aeviz's own: remove
    the ones that are provably checkpoint folders (the user's look-alikes stay)."""
    pattern = f".{glob.escape(path.name)}."
    for p in path.parent.glob(pattern + "*"):
        rest = p.name[len(pattern):]
        if rest.startswith(("tmp-", "old-")) and not p.is_symlink() and \
                p.is_dir() and not owned.foreign_entries(p, is_checkpoint_file):
            shutil.rmtree(p, ignore_errors=True)
