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
