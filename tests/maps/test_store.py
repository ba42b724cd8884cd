import io
import json
import os

import numpy as np
import pytest

from aeviz.maps import projections as project
from aeviz.maps import nonlinear as project_nonlinear
from aeviz.core.errors import ProjectionError
from aeviz.maps.mapfile import load_map_file, read_map_file, write_map_file
from aeviz.maps.store import MapCache, cached_projection, cached_projector, codes_digest, map_key, shipped_map
from aeviz.maps.projections import FixedMap, PCAProjection


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 1, (60, 6)) for c in (0, 6, 12)]).astype(np.float32)
    return x, np.repeat(np.arange(3), 60)


@pytest.fixture
def count_fits(monkeypatch) -> dict:
    """Counts fits of each method (cache hits must not fit); UMAP's is faked (no JIT wait)."""
    calls = {"pca": 0, "umap": 0}
    pca_fit = PCAProjection._fit

    def counted_pca(self, codes):
        calls["pca"] += 1
        return pca_fit(self, codes)

    def fake_umap(self, codes):
        calls["umap"] += 1
        return codes[:, :2] * 3.0
    monkeypatch.setattr(PCAProjection, "_fit", counted_pca)
    monkeypatch.setattr(project_nonlinear.UMAPProjection, "_fit_distinct", fake_umap)
    return calls


def test_keys_are_stable_and_depend_on_everything():
    args = ("model-a", "test", "umap", {"n_neighbors": 15, "min_dist": 0.1}, 0, 100, "ab" * 32)
    key = map_key(*args)
    assert len(key) == 64 and key == map_key(*args)
    assert key == map_key("model-a", "test", "umap", {"min_dist": 0.1, "n_neighbors": 15}, 0, 100,
                          "ab" * 32)                                # order-independent params
    for i, other in enumerate(["model-b", "train", "tsne", {"n_neighbors": 30}, 1, 101, "cd" * 32]):
        changed = list(args)
        changed[i] = other
        assert map_key(*changed) != key
    assert map_key("m", "s", "pca", {"k": np.int64(3)}, np.int64(0), 5, "x") == \
        map_key("m", "s", "pca", {"k": 3}, 0, 5, "x")


def test_a_new_engine_version_of_one_method_refits_only_that_method(monkeypatch):
    from aeviz.maps import store as mapcache
    umap_key = map_key("m", "test", "umap", {}, 0, 10, "x")
    pca_key = map_key("m", "test", "pca", {}, 0, 10, "x")
    monkeypatch.setitem(mapcache.ENGINE_VERSIONS, "umap", mapcache.ENGINE_VERSIONS["umap"] + 1)
    assert map_key("m", "test", "umap", {}, 0, 10, "x") != umap_key
    assert map_key("m", "test", "pca", {}, 0, 10, "x") == pca_key


def test_codes_digest_sees_any_change(data):
    x, _ = data
    y = x.copy()
    y[5, 2] += 1e-6
    assert codes_digest(x) == codes_digest(x.copy()) != codes_digest(y)
    assert codes_digest(x) != codes_digest(x.reshape(90, 12))


def test_put_get_round_trip_and_corrupt_entry_is_a_removed_miss(tmp_path):
    cache = MapCache(tmp_path)
    key = "0" * 64
    assert cache.get(key) is None
    cache.put(key, {"embedding": np.ones((3, 2), np.float32), "meta": {"method": "pca"}})
    entry = cache.get(key)
    assert entry["meta"] == {"method": "pca"} and entry["embedding"].shape == (3, 2)
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.npz"]   # no temp files left
    cache.path(key).write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert cache.get(key) is None
    assert not cache.path(key).exists()
    with pytest.raises(ProjectionError, match="sha256"):
        cache.path("../escape")


def test_unwritable_cache_warns_and_still_returns_the_map(tmp_path, data):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="could not write"):
        emb, info = cached_projection(data[0], data[1], "pca", {}, 0, "m", "test",
                                      cache=MapCache(blocker / "maps"))
    assert emb.shape == (180, 2) and not info["cache_hit"]


def test_cache_hit_skips_the_fit(tmp_path, data, count_fits):
    x, y = data
    cache = MapCache(tmp_path)
    emb1, info1 = cached_projection(x, y, "pca", {}, 0, "m", "test", cache=cache)
    emb2, info2 = cached_projection(x, y, "pca", {"whiten": False}, 0, "m", "test", cache=cache)
    assert count_fits["pca"] == 1 and not info1["cache_hit"] and info2["cache_hit"]
    assert np.array_equal(emb1, emb2) and info1["key"] == info2["key"]
    assert info2["knn_accuracy"] == 1.0 and 0.9 < info2["trustworthiness"] <= 1.0
    assert set(info1) >= {"seconds", "cache_hit", "trustworthiness", "knn_accuracy"}
    cached_projection(x, y, "pca", {}, 0, "m", "test", cache=False)
    cached_projection(x + 1, y, "pca", {}, 0, "m", "test", cache=cache)   # other codes: miss
    assert count_fits["pca"] == 3


def test_umap_projector_on_a_hit_needs_no_umap(tmp_path, data, count_fits):
    x, y = data
    cache = MapCache(tmp_path)
    params = {"n_epochs": 30}
    emb, _ = cached_projection(x, y, "umap", params, 0, "m", "test", cache=cache)
    proj = cached_projector(x, y, "umap", params, 0, "m", "test", cache=cache)
    assert count_fits["umap"] == 1 and isinstance(proj, FixedMap)
    np.testing.assert_array_equal(proj.embedding_, emb)
    np.testing.assert_array_equal(proj.transform(x[:5]), emb[:5])
    assert proj.inverse_transform(emb[:5]).shape == (5, 6)
    pca = cached_projector(x, y, "pca", {}, 0, "m", "test", cache=cache)
    assert isinstance(pca, project.PCAProjection)


def test_shipped_map_is_used_when_it_matches(tmp_path, data, count_fits):
    x, y = data
    _, info = cached_projection(x, y, "pca", {}, 0, "m", "test", cache=False)
    fake = np.full((180, 2), 7.0, np.float32)
    meta = {"method": "pca", "params": info["params"], "seed": 0, "split": "test"}
    write_map_file(tmp_path / "ckpt" / "maps" / "pca-test.npz",
                   {"embedding": fake, "codes": x + 1e-7, "labels": y, "meta": meta})
    count_fits["pca"] = 0
    emb, info = cached_projection(x, y, "pca", {}, 0, "m", "test", cache=False,
                                  checkpoint_dir=tmp_path / "ckpt")
    assert info["source"] == "shipped" and np.array_equal(emb, fake) and count_fits["pca"] == 0
    emb, info = cached_projection(x * 2, y, "pca", {}, 0, "m", "test", cache=False,
                                  checkpoint_dir=tmp_path / "ckpt")             # other codes
    assert info["source"] == "computed" and count_fits["pca"] == 1
    _, info = cached_projection(x, y, "pca", {}, 1, "m", "test", cache=False,
                                checkpoint_dir=tmp_path / "ckpt")               # other seed
    assert info["source"] == "computed"


def test_a_shipped_map_from_another_engine_version_is_not_used(tmp_path, data, count_fits, monkeypatch):
    # shipped maps ignored the engine version that cached maps are keyed by (issue 11)
    from aeviz.maps import store
    x, y = data
    _, info = cached_projection(x, y, "umap", {}, 0, "m", "test", cache=False)
    meta = store.map_meta("umap", info["params"], 0, "test", x, fit_seconds=1.0, trustworthiness=None,
                          knn_accuracy=None)
    assert meta["engine"] == store.ENGINE_VERSIONS["umap"]
    write_map_file(tmp_path / "ckpt" / "maps" / "umap.npz",
                   {"embedding": np.zeros((180, 2), np.float32), "codes": x, "labels": y, "meta": meta})
    count_fits["umap"] = 0
    _, info = cached_projection(x, y, "umap", {}, 0, "m", "test", cache=False, checkpoint_dir=tmp_path / "ckpt")
    assert info["source"] == "shipped" and count_fits["umap"] == 0
    monkeypatch.setitem(store.ENGINE_VERSIONS, "umap", meta["engine"] + 1)     # the algorithm changed
    _, info = cached_projection(x, y, "umap", {}, 0, "m", "test", cache=False, checkpoint_dir=tmp_path / "ckpt")
    assert info["source"] == "computed" and count_fits["umap"] == 1


def test_every_shipped_map_records_the_current_engine():
    from aeviz.core.paths import pretrained_dir
    from aeviz.maps.store import ENGINE_VERSIONS
    files = sorted(pretrained_dir().glob("*/maps/*.npz"))
    assert len(files) >= 13
    for f in files:
        meta = read_map_file(f)["meta"]
        assert meta.get("engine") == ENGINE_VERSIONS.get(meta["method"], 1), f


def test_map_files_never_need_pickle(tmp_path):
    path = tmp_path / "map.npz"
    write_map_file(path, {"embedding": np.zeros((2, 2), np.float32), "labels": np.array([1, 2]),
                          "meta": {"method": "pca", "params": {"a": (1, 2)}}})
    arrays = read_map_file(path)
    assert arrays["meta"]["params"] == {"a": [1, 2]} and arrays["labels"].tolist() == [1, 2]
    np.savez(tmp_path / "bad.npz", embedding=np.zeros((2, 3)), meta=np.array("{}"))
    assert read_map_file(tmp_path / "bad.npz") is None              # not an (N, 2) map


# --------------------------------------------------------------------------- hostile map files (issue 15)

def _hostile(kind: str, n: int = 180, d: int = 6) -> dict:
    """The arrays of a map .npz that must be refused; ``kind`` says how it is wrong."""
    rng = np.random.default_rng(0)
    arrays = {"embedding": rng.normal(size=(n, 2)).astype(np.float32),
              "codes": rng.normal(size=(n, d)).astype(np.float32),
              "labels": np.arange(n) % 3, "meta": np.array(json.dumps({"method": "umap"}))}
    if kind == "meta-list":
        arrays["meta"] = np.array("[1, 2]")
    elif kind == "meta-number":
        arrays["meta"] = np.array("3")
    elif kind == "meta-deep":
        arrays["meta"] = np.array("[" * 100_000 + "]" * 100_000)
    elif kind == "meta-bytes":
        arrays["meta"] = np.array(b"{}")
    elif kind == "meta-nan-quality":
        arrays["meta"] = np.array('{"method": "umap", "trustworthiness": NaN}')
    elif kind == "string-codes":
        arrays["codes"] = arrays["codes"].astype(str)
    elif kind == "nan-embedding":
        arrays["embedding"][3, 1] = np.nan
    elif kind == "inf-codes":
        arrays["codes"][0, 0] = np.inf
    elif kind == "int-embedding":
        arrays["embedding"] = np.ones((n, 2), np.int64)
    elif kind == "mismatched-n":
        arrays["codes"] = arrays["codes"][:-1]
    elif kind == "labels-2d":
        arrays["labels"] = np.zeros((n, 2), np.int64)
    elif kind == "no-embedding":
        del arrays["embedding"]
    return arrays


HOSTILE = ["meta-list", "meta-number", "meta-deep", "meta-bytes", "meta-nan-quality", "string-codes",
           "nan-embedding", "inf-codes", "int-embedding", "mismatched-n", "labels-2d", "no-embedding"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_invalid_map_files_are_refused_with_a_message(tmp_path, kind):
    path = tmp_path / "umap.npz"
    np.savez(path, **_hostile(kind))
    assert read_map_file(path) is None
    with pytest.raises(ProjectionError, match="umap.npz") as err:
        load_map_file(path)
    assert "\n" not in str(err.value)


def test_map_point_limit(tmp_path, monkeypatch):
    from aeviz.core import limits
    monkeypatch.setattr(limits, "MAP_MAX_POINTS", 180)
    np.savez(tmp_path / "at.npz", **_hostile("valid", n=180))
    np.savez(tmp_path / "over.npz", **_hostile("valid", n=181))
    assert read_map_file(tmp_path / "at.npz") is not None
    with pytest.raises(ProjectionError, match="181 points, more than 180"):
        load_map_file(tmp_path / "over.npz")


def test_map_inflating_past_the_limit_is_refused_without_allocating(tmp_path):
    import tracemalloc
    import zipfile

    from aeviz.core import limits
    shape = (6000, 6000)                                   # 288 MB of float64 zeros in ~0.3 MB
    assert 8 * shape[0] * shape[1] > limits.MAP_MAX_INFLATED_BYTES
    path = tmp_path / "umap.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("codes.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": shape})
            zeros = bytes(8 * shape[1] * 500)
            for _ in range(shape[0] // 500):
                f.write(zeros)
        z.writestr("embedding.npy", _npy(np.zeros((shape[0], 2), np.float32)))
    assert path.stat().st_size < 2 * 2 ** 20
    tracemalloc.start()
    try:
        assert read_map_file(path) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2 ** 20, f"reading the refused map allocated {peak:,} bytes"


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_map_file_linked_out_of_its_checkpoint_is_refused(tmp_path, data):
    outside = tmp_path / "elsewhere.npz"
    write_map_file(outside, {"embedding": np.zeros((180, 2), np.float32), "codes": data[0], "meta": {}})
    (tmp_path / "ckpt" / "maps").mkdir(parents=True)
    os.symlink(outside, tmp_path / "ckpt" / "maps" / "umap.npz")
    os.symlink("/proc/self/mem", tmp_path / "ckpt" / "maps" / "umap-test.npz")
    with pytest.warns(RuntimeWarning) as caught:
        assert shipped_map(tmp_path / "ckpt", "umap", "test", {}, 0, data[0]) is None
    messages = [str(w.message) for w in caught]
    assert any("umap.npz" in m and "leads outside ckpt" in m for m in messages), messages
    assert any("umap-test.npz" in m and "leads outside ckpt" in m for m in messages), messages


@pytest.mark.parametrize("kind", ["meta-list", "meta-deep", "string-codes", "nan-embedding", "mismatched-n"])
def test_uploaded_checkpoint_with_a_hostile_shipped_map_gets_a_computed_map(tmp_path, data, count_fits, kind):
    """What Explore calls (cached_projector with the model's folder) recomputes, never raises."""
    from conftest import tiny_checkpoint
    x, y = data
    folder = tiny_checkpoint(tmp_path / "upload")
    (folder / "maps").mkdir()
    np.savez(folder / "maps" / "umap.npz", **_hostile(kind))
    with pytest.warns(RuntimeWarning, match=r"ignoring the map .*umap.npz shipped with the model"):
        proj = cached_projector(x, y, "umap", {}, 0, "upload:abc", "test", cache=MapCache(tmp_path / "c"),
                                checkpoint_dir=folder)
    assert isinstance(proj, FixedMap) and count_fits["umap"] == 1
    np.testing.assert_allclose(proj.embedding_, x[:, :2] * 3.0)


def test_invalid_cache_entry_is_removed(tmp_path):
    cache = MapCache(tmp_path)
    key = "1" * 64
    np.savez(cache.path(key), **_hostile("meta-list"))
    with pytest.warns(RuntimeWarning, match="removing unreadable map cache entry"):
        assert cache.get(key) is None
    assert not cache.path(key).exists()


def _entry(n: int = 100) -> dict:
    return {"embedding": np.zeros((n, 2), np.float32), "codes": np.zeros((n, 4), np.float32),
            "meta": {"method": "pca"}}


def test_cache_evicts_the_least_recently_used_entries(tmp_path):
    size = len(_npy(np.zeros((100, 2), np.float32))) + len(_npy(np.zeros((100, 4), np.float32)))
    cache = MapCache(tmp_path, max_bytes=10 ** 9, max_entries=3)
    keys = [f"{i:064x}" for i in range(5)]
    for i, key in enumerate(keys[:3]):
        assert cache.put(key, _entry())
        os.utime(cache.path(key), ns=(i * 10 ** 9, i * 10 ** 9))      # put at t = 0, 1, 2 s
    assert cache.get(keys[0]) is not None                               # a hit is recent use
    assert cache.put(keys[3], _entry())
    assert sorted(p.name[:64] for p in tmp_path.glob("*.npz")) == sorted([keys[0], keys[2], keys[3]])
    small = MapCache(tmp_path, max_bytes=2 * size + 2000, max_entries=100)   # two entries fit, not three
    assert small.put(keys[4], _entry())
    left = sorted(tmp_path.glob("*.npz"))                               # oldest first: 2, then 0
    assert left == [cache.path(keys[3]), cache.path(keys[4])]
    assert sum(p.stat().st_size for p in left) <= small.max_bytes


def test_cache_defaults_come_from_the_limits():
    from aeviz.core import limits
    cache = MapCache()
    assert (cache.max_bytes, cache.max_entries) == (limits.MAP_CACHE_MAX_BYTES, limits.MAP_CACHE_MAX_ENTRIES)


def test_an_entry_that_could_not_be_read_back_is_not_stored(tmp_path):
    cache = MapCache(tmp_path)
    bad = _entry()
    bad["embedding"][0, 0] = np.nan
    assert cache.put("2" * 64, bad) is False and not list(tmp_path.iterdir())
