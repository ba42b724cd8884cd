"""Where aeviz looks for data, keeps caches and stores user models.

User-supplied names never become paths without ``safe_name``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from aeviz.core import limits
from aeviz.core.errors import ConfigError

_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{limits.NAME_MAX_CHARS - 1}}}")
SYSTEM_DATA_DIR = Path("/usr/share/datasets")   # Debian's dataset-* packages


def cache_dir() -> Path:
    """AEVIZ_CACHE_DIR, else $XDG_CACHE_HOME/aeviz, else ~/.cache/aeviz."""
    env = os.environ.get("AEVIZ_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "aeviz"


def data_dirs(explicit: str | Path | None = None) -> list[Path]:
    """Folders searched for ``<dir>/<dataset>/<file>``, in order of preference."""
    first = explicit if explicit is not None else os.environ.get("AEVIZ_DATA_DIR")
    dirs = [Path(first).expanduser()] if first else []
    dirs += [cache_dir() / "data", SYSTEM_DATA_DIR]
    return dirs


def pretrained_dir() -> Path:
    """AEVIZ_PRETRAINED_DIR, else ``pretrained/`` of the checkout aeviz runs from: the shipped zoo."""
    env = os.environ.get("AEVIZ_PRETRAINED_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "pretrained"


def user_models_dir() -> Path:
    """AEVIZ_MODELS_DIR, else <cache>/models: where trained models are saved."""
    env = os.environ.get("AEVIZ_MODELS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "models"


def safe_name(name: str) -> str:
    """Return ``name`` if it is a safe single path component, else raise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"invalid name {name!r}: use 1-{limits.NAME_MAX_CHARS} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no slashes, no '..')")
    return name


# Where aeviz never writes or reads user-named paths: kernel and device file systems.
_SPECIAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def checked_path(text: str | Path, what: str) -> Path:
    """A path named by a user (a CLI flag), refused with ConfigError unless it is sane.

    No NUL or control characters, each component at most NAME_MAX bytes and the
    whole at most PATH_MAX, nothing under /proc, /sys or /dev, and no file
    where a folder of the path has to be. Checked before any work starts, so a
    bad path costs nothing and writes nothing. What an *existing* path may be
    (a checkpoint, a map) is for the caller to judge.
    """
    text = str(text)
    if not text:
        raise ConfigError(f"{what} is empty; give a path")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ConfigError(f"{what} {text!r} contains a control character (NUL, newline, escape ...); "
                          "choose a plain path")
    raw = os.fsencode(text)
    if len(raw) > limits.PATH_MAX_BYTES:
        raise ConfigError(f"{what} is {len(raw)} bytes long; paths may be at most "
                          f"{limits.PATH_MAX_BYTES} bytes")
    long = next((part for part in raw.split(b"/") if len(part) > limits.PATH_COMPONENT_MAX_BYTES), None)
    if long is not None:
        raise ConfigError(f"{what}: the name {long[:40].decode(errors='replace')!r}... is {len(long)} "
                          f"bytes; a file or folder name may be at most "
                          f"{limits.PATH_COMPONENT_MAX_BYTES} bytes")
    path = Path(text).expanduser()
    real = Path(os.path.realpath(path))
    if any(real == root or root in real.parents for root in _SPECIAL_ROOTS):
        raise ConfigError(f"{what} {text!r} is under {real.parts[1] and '/' + real.parts[1]}, a "
                          "system file system; choose a folder of your own")
    ancestor = nearest_existing(path)
    if ancestor != path and not ancestor.is_dir():      # an existing target: the caller judges it
        raise ConfigError(f"{what} {text!r}: {ancestor} is a file, not a folder; choose another path")
    return path


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (lexists: a dangling link counts)."""
    for p in (path, *Path(os.path.abspath(path)).parents):
        try:
            if os.path.lexists(p):
                return p
        except OSError:
            continue
    return Path("/")
