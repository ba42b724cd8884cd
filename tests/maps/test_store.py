import numpy as np
import pytest

from aeviz.maps import projections as project
from aeviz.maps import nonlinear as project_nonlinear
from aeviz.core.errors import ProjectionError
from aeviz.maps.store import (MapCache, cached_projection, cached_projector, codes_digest, map_key,
                            read_map_file, write_map_file)
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
