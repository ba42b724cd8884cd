"""The map file format: one ``.npz`` read bounded and validated, written atomically.

``embedding`` (N, 2) float, optional ``codes`` (N, D) numbers and ``labels``
(N,) integers or text, and ``meta``, canonical JSON text (method, params,
seed, split, n_points, codes_digest, fit_seconds, trustworthiness,
knn_accuracy). Every map file, cache entry, shipped map or ``project --out``,
is read through ``aeviz.core.reading.read_npz`` (``limits.MAP_MAX_FILE_BYTES``
/ ``MAP_MAX_INFLATED_BYTES``, inside its root) and ``map_problem``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from aeviz.core import files, limits, reading
from aeviz.core.errors import ProjectionError

MEMBERS = ("embedding", "codes", "labels", "meta")     # the arrays a map file may hold
_NUMBERS = ("fit_seconds", "trustworthiness", "knn_accuracy")   # meta fields: a finite number or null


def plain_params(value: Any) -> Any:
    """JSON-ready copy of projection parameters (``files.json_safe``), refused if impossible."""
    try:
        return files.json_safe(value)
    except TypeError:
        raise ProjectionError(f"projection parameter value {value!r} is not JSON-serialisable") from None


def load_map_file(path: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """Arrays of a valid map ``.npz`` (``meta`` decoded), read bounded from inside ``root``.

    ProjectionError naming the file otherwise: unreadable, too large, a link out
    of ``root`` (default: the file's folder), or not a map (see ``map_problem``).
    """
    path = Path(path)
    what = "map file"
    arrays: dict[str, Any] = reading.read_npz(
        path, root=path.parent if root is None else root, max_bytes=limits.MAP_MAX_FILE_BYTES,
        max_inflated_bytes=limits.MAP_MAX_INFLATED_BYTES, names=MEMBERS, what=what, error=ProjectionError)
    meta = arrays.get("meta")
    if meta is None or meta.ndim != 0 or meta.dtype.kind != "U":
        raise ProjectionError(f"{what} {path.name} has no JSON text 'meta'; it is not a map aeviz wrote")
    arrays["meta"] = reading.parse_json(str(meta), what=f"the meta of {what} {path.name}", kind=dict,
                                        error=ProjectionError)
    problem = map_problem(arrays)
    if problem:
        raise ProjectionError(f"{what} {path.name} is not a valid map: {problem}")
    return arrays


def read_map_file(path: str | Path, root: str | Path | None = None) -> dict[str, Any] | None:
    """``load_map_file``, or None if the file is unreadable or not a valid map."""
    try:
        return load_map_file(path, root)
    except ProjectionError:
        return None


def map_problem(arrays: dict[str, Any]) -> str | None:
    """What makes ``arrays`` (``meta`` a dict) not a map, or None: embedding finite float (N, 2),
    codes finite numbers (N, D), labels (N,) integers or text, N <= MAP_MAX_POINTS."""
    emb, codes, labels, meta = (arrays.get(k) for k in MEMBERS)
    if not isinstance(meta, dict):
        return "its meta is not a JSON object"
    bad = [k for k in _NUMBERS if not _number_or_none(meta.get(k))]
    if bad:
        return f"meta {bad[0]!r} is not a finite number"
    if not isinstance(emb, np.ndarray) or emb.dtype.kind != "f" or emb.ndim != 2 or emb.shape[1] != 2:
        return "the embedding is not an (N, 2) float array"
    n = emb.shape[0]
    if n > limits.MAP_MAX_POINTS:
        return f"it has {n:,} points, more than {limits.MAP_MAX_POINTS:,}"
    if codes is not None and (not isinstance(codes, np.ndarray) or codes.dtype.kind not in "fiu"
                              or codes.ndim != 2 or codes.shape[0] != n or codes.shape[1] < 1):
        return f"the codes are not an ({n}, D) numeric array"
    if labels is not None and (not isinstance(labels, np.ndarray) or labels.dtype.kind not in "biuU"
                               or labels.shape != (n,)):
        return f"the labels are not ({n},) integers or text"
    if not np.isfinite(emb).all() or (codes is not None and not np.isfinite(codes).all()):
        return "the embedding or codes hold NaN or infinity"
    return None


def _number_or_none(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return value is None or isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def write_map_file(path: Path, arrays: dict[str, Any]) -> None:
    """Atomic ``.npz`` write; ``meta`` is stored as canonical JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = {k: (np.array(files.json_dumps(plain_params(v), sort_keys=True)) if k == "meta" else np.asarray(v))
             for k, v in arrays.items() if v is not None}
    files.atomic_write(path, lambda f: np.savez(f, **plain))
