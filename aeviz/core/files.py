"""Writing files safely: JSON-safe values, atomic replacement, and the one cache-write policy.

Every file aeviz writes goes through ``atomic_write`` (a temporary file in the
same folder, flushed and fsynced, then ``os.replace``), so a crash or a full
disk never leaves a half-written file where a good one was. Every JSON value
aeviz writes goes through ``json_safe``. Caches are an optimisation: when one
cannot be written, ``cache_write`` warns once with ``CacheWarning`` and the
caller carries on with the value it computed.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import IO, Any, Callable


class CacheWarning(RuntimeWarning):
    """A cache could not be read or written; the result was computed and is still returned."""


def json_safe(value: Any) -> Any:
    """A copy that ``json.dumps(..., allow_nan=False)`` accepts.

    numpy scalars and 0-d arrays become Python numbers, arrays and tuples
    lists, paths strings, dict keys strings; NaN and inf become None (a
    metric of a degenerate model is stored honestly as null, never blocks a
    save). Anything else that JSON cannot hold raises TypeError.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):   # numpy scalar or array, torch tensor
        return json_safe(value.tolist())
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def json_dumps(value: Any, **kw: Any) -> str:
    """``json.dumps`` of ``json_safe(value)``; never writes NaN (invalid JSON)."""
    return json.dumps(json_safe(value), allow_nan=False, **kw)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it onto ``path``.

    OSError (disk full, read-only folder) propagates after the temporary file
    is removed; whatever was at ``path`` before is unchanged.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 1) -> Path:
    return write_bytes_atomic(path, json_dumps(data, indent=indent).encode("utf-8"))


def cache_write(what: str, where: str | Path, write: Callable[[], Any],
                errors: tuple[type[BaseException], ...] = (OSError,)) -> bool:
    """Run ``write()``; if the cache cannot be written, warn and return False.

    The one policy for every cache (maps, judge classifiers, download checks,
    the app's built-in models): a read-only or full cache costs time, never a
    result. ``errors``: what a failed write raises (OSError, or a boundary's
    own error such as the CheckpointError that save_checkpoint turns it into).
    """
    try:
        write()
    except errors as e:
        reason = getattr(e, "strerror", None) or e
        warnings.warn(f"could not write the {what} cache in {where} ({reason}); the result "
                      "was computed and is used, but will be recomputed next time (set AEVIZ_CACHE_DIR "
                      "to a writable folder to keep it)", CacheWarning, stacklevel=2)
        return False
    return True
