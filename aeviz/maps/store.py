"""Maps computed once, kept on disk: ``cached_projection`` and ``cached_projector``.

A map entry is one ``.npz`` (loaded with ``allow_pickle=False``) holding
``embedding`` (N, 2) float32, ``codes`` (N, D) float32, optional ``labels``
(N,) and ``meta``, a JSON string (method, params, seed, split, n_points,
codes_digest, fit_seconds, trustworthiness, knn_accuracy). The CLI's
``--out`` file has the same layout, so a map made with
``python -m aeviz project`` can ship with a pretrained model as
``<checkpoint>/maps/<method>-<split>.npz`` (or ``<method>.npz``): that
read-only root is looked at first and accepted when method, params, seed
and the codes (within float tolerance, so another machine's encoder
rounding still matches) agree.

Every map file is read and validated by ``aeviz.maps.mapfile`` (bounded,
inside its root): a shipped map that is not valid is ignored with a warning
naming it and recomputed; an invalid cache entry is removed. The cache is bounded (``MAP_CACHE_MAX_BYTES``,
``MAP_CACHE_MAX_ENTRIES``): least recently used entries (oldest mtime; a hit
touches it) are evicted after each put.

Keys are the sha256 of canonical JSON over model id, split, method, the
*full* parameter set (defaults filled in), seed, N and a digest of the
codes' bytes, so any change of model or codes is a new entry.

Fitted UMAP/t-SNE estimators are not stored (no pickle). On a hit,
``cached_projector`` rebuilds a usable projection cheaply: ``latent`` and
``pca`` are refitted (milliseconds, identical result); UMAP/t-SNE become a
``FixedMap`` whose transform is a kNN blend over the cached map and whose
inverse is the fitted inverse. The app therefore never recomputes a UMAP to
place an interpolation path; the price is that new points can only land
among their code-space neighbours' positions (see FixedMap).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from aeviz.core import files, limits
from aeviz.core.errors import ProjectionError
from aeviz.maps.mapfile import MEMBERS, load_map_file, map_problem, plain_params, write_map_file
from aeviz.maps.quality import knn_accuracy_cv, trustworthiness
from aeviz.core.paths import cache_dir
from aeviz.maps.projections import METHODS, FixedMap, Projection, check_codes, make_projection

CACHE_VERSION = 1                     # bump when the entry layout changes
# bump a method's number when its algorithm changes its output for the same parameters
# (e.g. a new default optimisation schedule): its cached maps are then refitted once.
# umap 2 / tsne 2: the size-based UMAP epochs and the 125+150-iteration t-SNE schedule.
ENGINE_VERSIONS = {"umap": 2, "tsne": 2}
QUALITY_POINTS = 3000                 # subsample for the stored trustworthiness (O(N^2))
_ENTRY = re.compile(r"[0-9a-f]{64}\.npz")


def codes_digest(codes: np.ndarray) -> str:
    """sha256 over shape and float32 bytes of ``codes``."""
    arr = np.ascontiguousarray(codes, dtype=np.float32)
    h = hashlib.sha256(repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def map_key(model_id: str, split: str, method: str, params: dict, seed: int, n_points: int,
            codes_digest: str) -> str:
    """sha256 of the canonical JSON of everything a map depends on."""
    blob = json.dumps({"v": CACHE_VERSION, "engine": ENGINE_VERSIONS.get(method, 1),
                       "model": model_id, "split": split, "method": method,
                       "params": plain_params(params), "seed": plain_params(seed), "n": int(n_points),
                       "codes": codes_digest}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class MapCache:
    """A folder of map entries named ``<key>.npz`` (default: <cache>/maps), bounded and evicting.

    After each put the least recently used entries (oldest mtime; ``get`` touches
    a hit) are removed until at most ``max_entries`` entries of at most
    ``max_bytes`` in all remain (defaults: limits.MAP_CACHE_MAX_ENTRIES / _BYTES).
    """

    def __init__(self, root: Path | None = None, max_bytes: int | None = None,
                 max_entries: int | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "maps"
        self.max_bytes = limits.MAP_CACHE_MAX_BYTES if max_bytes is None else int(max_bytes)
        self.max_entries = limits.MAP_CACHE_MAX_ENTRIES if max_entries is None else int(max_entries)

    def path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ProjectionError(f"map cache keys are sha256 hex digests, got {key!r}")
        return self.root / f"{key}.npz"

    def get(self, key: str) -> dict | None:
        """The entry's arrays (``meta`` decoded to a dict), or None on a miss.

        A corrupt or invalid entry is a miss and is removed so it is recomputed once.
        """
        path = self.path(key)
        if not os.path.lexists(path):
            return None
        try:
            arrays = load_map_file(path, self.root)
        except ProjectionError as e:
            warnings.warn(f"removing unreadable map cache entry {path} ({e})", RuntimeWarning, stacklevel=2)
            try:
                path.unlink()
            except OSError:
                pass
            return None
        try:
            os.utime(path)                  # the LRU clock: a hit is recent use
        except OSError:
            pass
        return arrays

    def put(self, key: str, arrays: dict) -> bool:
        """Store an entry, then evict; on a read-only or full disk warn and return False.

        An entry that could not be read back (not a valid map, or over
        MAP_MAX_INFLATED_BYTES) is not stored: False, no warning.
        """
        plain = {k: plain_params(v) if k == "meta" else np.asarray(v) for k, v in arrays.items() if v is not None}
        size = sum(v.nbytes for k, v in plain.items() if k != "meta")
        if set(plain) - set(MEMBERS) or map_problem(plain) or size > limits.MAP_MAX_INFLATED_BYTES:
            return False
        path = self.path(key)
        if not files.cache_write("map", self.root, lambda: write_map_file(path, arrays)):
            return False
        self._evict(keep=path.name)
        return True

    def _evict(self, keep: str) -> None:
        """Remove the oldest entries (by mtime) but ``keep`` until within both limits."""
        try:
            with os.scandir(self.root) as it:
                found = [(e.stat(follow_symlinks=False), e.name) for e in it
                         if _ENTRY.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
        except OSError:
            return
        found.sort(key=lambda f: (f[0].st_mtime_ns, f[1]))
        count, total = len(found), sum(st.st_size for st, _ in found)
        for st, name in found:
            if count <= self.max_entries and total <= self.max_bytes:
                break
            if name == keep:
                continue
            try:
                (self.root / name).unlink()
            except FileNotFoundError:
                pass                        # another process evicted it first
            except OSError:
                return                      # read-only: nothing more can go
            count, total = count - 1, total - st.st_size


def shipped_map(checkpoint_dir: str | Path, method: str, split: str, params: dict, seed: int,
                codes: np.ndarray) -> dict | None:
    """A map shipped in ``<checkpoint>/maps/`` that fits these codes, or None.

    A shipped file that is not a valid map (read bounded from inside the
    checkpoint folder) is ignored with a RuntimeWarning naming it.
    """
    root = Path(checkpoint_dir)
    for name in (f"{method}-{split}.npz", f"{method}.npz"):
        file = root / "maps" / name
        if not os.path.lexists(file):
            continue
        try:
            arrays = load_map_file(file, root)
        except ProjectionError as e:
            warnings.warn(f"ignoring the map {file} shipped with the model, which is computed instead: {e}",
                          RuntimeWarning, stacklevel=2)
            continue
        if _matches(arrays, method, params, seed, codes):
            return arrays
    return None


def map_meta(method: str, params: dict, seed: int, split: str, codes: np.ndarray, *,
             fit_seconds: float | None, trustworthiness: float | None,
             knn_accuracy: float | None, digest: str | None = None) -> dict[str, Any]:
    """The ``meta`` of every map file (cache entry, ``project --out``, a zoo model's maps/).

    ``engine`` is the method's ENGINE_VERSIONS number: a map made by an older
    algorithm is never taken for a current one, shipped or cached.
    """
    return {"method": method, "params": plain_params(params), "seed": seed, "split": split,
            "n_points": int(len(codes)), "codes_digest": digest or codes_digest(codes),
            "engine": ENGINE_VERSIONS.get(method, 1),
            "fit_seconds": None if fit_seconds is None else round(float(fit_seconds), 4),
            "trustworthiness": trustworthiness, "knn_accuracy": knn_accuracy}


def _matches(arrays: dict, method: str, params: dict, seed: int, codes: np.ndarray) -> bool:
    meta, stored = arrays["meta"], arrays.get("codes")
    if (meta.get("method"), meta.get("params"), meta.get("seed")) != (method, plain_params(params), seed):
        return False
    if meta.get("engine", 1) != ENGINE_VERSIONS.get(method, 1):
        return False
    if stored is None or stored.shape != codes.shape or arrays["embedding"].shape[0] != len(codes):
        return False
    scale = float(np.abs(codes).max()) or 1.0
    return bool(np.allclose(stored, codes, rtol=1e-3, atol=1e-4 * scale))


def cached_projection(codes: np.ndarray, labels: np.ndarray | None, method: str, params: dict,
                      seed: int, model_id: str, split: str, cache: MapCache | None | bool = None,
                      checkpoint_dir: str | Path | None = None) -> tuple[np.ndarray, dict]:
    """(embedding (N, 2) float32, info) for ``codes``, computed at most once.

    cache: a MapCache, None for the default one, False to compute without
    reading or writing. info: seconds (this call), fit_seconds, cache_hit,
    source ("computed" | "cache" | "shipped"), key, method, params (all,
    defaults filled in), seed, n_points, trustworthiness (k=10, on at most
    QUALITY_POINTS points), knn_accuracy (5-fold 5-NN on the map; None
    without labels).
    """
    start = time.perf_counter()
    codes = check_codes(codes)
    params = dict(params or {})
    if "random_state" in params:
        raise ProjectionError("pass the projection's seed as `seed`, not as params['random_state']")
    if labels is not None and np.shape(labels) != (len(codes),):
        raise ProjectionError(f"labels must have shape ({len(codes)},) to match the codes, "
                              f"got {np.shape(labels)}")
    est = make_projection(method, random_state=seed, **params)
    full = plain_params({k: v for k, v in est.get_params().items() if k != "random_state"})
    digest = codes_digest(codes)
    key = map_key(model_id, split, method, full, seed, len(codes), digest)
    store = None if cache is False else (cache if isinstance(cache, MapCache) else MapCache())
    entry, source = _lookup(store, key, checkpoint_dir, method, split, full, seed, codes)
    if entry is None:
        entry, source = _compute(est, codes, labels, split, digest), "computed"
        if store is not None:
            store.put(key, entry)
    meta = dict(entry["meta"])
    if labels is not None and meta.get("knn_accuracy") is None:
        meta["knn_accuracy"] = _knn(entry["embedding"], labels)
    info = {"seconds": time.perf_counter() - start, "fit_seconds": meta.get("fit_seconds"),
            "cache_hit": source != "computed", "source": source, "key": key, "method": method,
            "params": full, "seed": seed, "n_points": len(codes),
            "trustworthiness": meta.get("trustworthiness"), "knn_accuracy": meta.get("knn_accuracy")}
    return np.asarray(entry["embedding"], dtype=np.float32), info


def _lookup(store: MapCache | None, key: str, checkpoint_dir, method: str, split: str,
            params: dict, seed: int, codes: np.ndarray) -> tuple[dict | None, str]:
    """(entry, "shipped" | "cache") from the checkpoint's maps/ then the cache, or (None, "")."""
    if checkpoint_dir:
        entry = shipped_map(checkpoint_dir, method, split, params, seed, codes)
        if entry is not None:
            return entry, "shipped"
    entry = store.get(key) if store is not None else None
    if entry is not None and entry["embedding"].shape[0] == len(codes):
        return entry, "cache"
    return None, ""


def _compute(est: Projection, codes: np.ndarray, labels, split: str, digest: str) -> dict:
    emb = est.fit(codes).embedding_
    params = {k: v for k, v in est.get_params().items() if k != "random_state"}
    meta = map_meta(est.method, params, est.random_state, split, codes, fit_seconds=est.fit_seconds_,
                    trustworthiness=trustworthiness(codes, emb, max_points=QUALITY_POINTS, seed=0)
                    if len(codes) >= 3 else None,
                    knn_accuracy=None if labels is None else _knn(emb, labels), digest=digest)
    return {"embedding": emb, "codes": codes,
            "labels": None if labels is None else np.asarray(labels), "meta": meta}


def _knn(embedding: np.ndarray, labels) -> float | None:
    labels = np.asarray(labels)
    return knn_accuracy_cv(embedding, labels, k=5, folds=5, seed=0) if len(labels) >= 2 else None


def cached_projector(codes: np.ndarray, labels: np.ndarray | None, method: str, params: dict,
                     seed: int, model_id: str, split: str, cache: MapCache | None | bool = None,
                     checkpoint_dir: str | Path | None = None) -> Projection:
    """A fitted projection whose ``embedding_`` is the cached map, for transform/inverse.

    latent/pca: refitted (cheap, exact). umap/tsne: a FixedMap over the
    cached (or freshly computed and cached) map: no UMAP/t-SNE refit on a hit.
    """
    if method in METHODS and METHODS[method].exact:
        return make_projection(method, random_state=seed, **dict(params or {})).fit(codes)
    emb, _ = cached_projection(codes, labels, method, params, seed, model_id, split, cache=cache,
                               checkpoint_dir=checkpoint_dir)
    inverse = dict(params or {}).get("inverse")
    extra = {"inverse": inverse} if inverse else {}
    return FixedMap(embedding=emb, **extra).fit(codes)
