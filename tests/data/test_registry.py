import dataclasses
import gzip
import hashlib
import os
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import aeviz.core.paths as paths
from aeviz.data import download as download_module
from aeviz.data import registry as data
from aeviz.data.registry import DATASETS, Dataset, find_files, list_datasets, load_dataset
from aeviz.core.errors import DataError
from aeviz.data.loaders import FASHION_NAMES, IDX_FILES

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty cache and system folders, no AEVIZ_DATA_DIR, fresh in-process cache."""
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "SYSTEM_DATA_DIR", tmp_path / "system")
    real = os.environ.get("AEVIZ_DATA_DIR")
    monkeypatch.delenv("AEVIZ_DATA_DIR", raising=False)
    data.clear_cache()
    yield real
    data.clear_cache()


def small(n=6, shape=(1, 2, 2)) -> tuple[np.ndarray, np.ndarray]:
    return RNG.random((n, *shape), dtype=np.float32), np.arange(n, dtype=np.int64) % 2


# ------------------------------------------------------------------ Dataset

def test_dataset_properties_and_read_only_views():
    x, y = small()
    d = Dataset("t", x, y, x[:2], y[:2], ("a", "b"))
    assert d.sample_shape == (1, 2, 2) and d.is_image and d.num_classes == 2
    assert d.split("test")[0].shape == (2, 1, 2, 2)
    with pytest.raises(ValueError):
        d.x_train[0, 0, 0, 0] = 1.0
    x[0, 0, 0, 0] = 0.5                       # the caller's own array stays writable
    assert "train=(6, 1, 2, 2)" in repr(d)
    with pytest.raises(DataError, match="unknown split 'val'"):
        d.split("val")


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x.astype(np.float64), y), "float32"),
    (lambda x, y: (np.ascontiguousarray(x[:, 0, 0]), y), None),   # (N, 2) vectors are fine
    (lambda x, y: (x[..., None], y), "float32 array of shape"),
    (lambda x, y: (x.transpose(0, 1, 3, 2), y), "C-contiguous"),
    (lambda x, y: (x * 2, y), "in \\[0, 1\\]"),
    (lambda x, y: (np.where(x > 0.5, np.nan, x).astype(np.float32), y), "NaN"),
    (lambda x, y: (x, y.astype(np.int32)), "int64"),
    (lambda x, y: (x, y[:-1]), "int64 of shape \\(6,\\)"),
    (lambda x, y: (x, y + 1), "labels must be in 0..1"),
])
def test_dataset_validation(change, message):
    x, y = change(*small())
    if message is None:
        Dataset("t", x, y, x, y, ("a", "b"))
        return
    with pytest.raises(DataError, match=message):
        Dataset("t", x, y, x, y, ("a", "b"))


def test_dataset_shape_and_class_checks():
    x, y = small()
    with pytest.raises(DataError, match="test samples"):
        Dataset("t", x, y, np.zeros((2, 1, 3, 3), np.float32), y[:2], ("a", "b"))
    with pytest.raises(DataError, match="class_names"):
        Dataset("t", x, y, x, y, ["a", "b"])


# ------------------------------------------------------------------ registry and built-ins

def test_list_datasets_rows():
    rows = {r["name"]: r for r in list_datasets()}
    assert set(rows) == set(DATASETS)
    assert rows["digits"]["available"] and rows["digits"]["where"] == "built-in"
    assert not rows["mnist"]["available"]
    assert rows["mnist"]["where"] == "downloadable from ossci-datasets.s3.amazonaws.com"
    assert {r["kind"] for r in rows.values()} == {"image", "vector"}


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'; known: digits, mnist"):
        load_dataset("cifar")


def test_digits_builtin_and_cached():
    d = load_dataset("digits")
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.x_train.max() == 1.0 and d.class_names == tuple("0123456789")
    assert np.bincount(d.y_test).min() >= 35                   # stratified
    assert load_dataset("digits") is d
    assert find_files("digits") is None


@pytest.mark.parametrize("name, dim, classes", [
    ("swiss-roll", 3, 6), ("s-curve", 3, 6), ("moons", 2, 2), ("circles", 2, 2)])
def test_toy_manifolds(name, dim, classes):
    d = load_dataset(name)
    assert d.x_train.shape == (2000, dim) and d.x_test.shape == (500, dim)
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0 and d.x_test.max() <= 1.0
    assert set(np.unique(d.y_train)) == set(range(classes))
    data.clear_cache()
    np.testing.assert_array_equal(load_dataset(name).x_test, d.x_test)   # seeded


def test_swiss_roll_classes_follow_the_roll():
    d = load_dataset("swiss-roll")
    # neighbouring points on the roll mostly share a class: labels are not noise
    dist = ((d.x_train[:200, None] - d.x_train[None, :200]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    nearest = dist.argmin(1)
    assert (d.y_train[:200] == d.y_train[nearest]).mean() > 0.8


# ------------------------------------------------------------------ file datasets (synthetic)

def idx(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(head + arr.tobytes())


def fake_idx_folder(folder: Path, n_train=12, n_test=4, n_labels=None) -> tuple[str, ...]:
    folder.mkdir(parents=True)
    arrays = [RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              np.arange(n_labels or n_train, dtype=np.uint8) % 10,
              RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              np.arange(n_test, dtype=np.uint8) % 10]
    md5s = []
    for name, arr in zip(IDX_FILES, arrays):
        blob = idx(arr)
        (folder / name).write_bytes(blob)
        md5s.append(hashlib.md5(blob).hexdigest())
    return tuple(md5s)


def patch_md5(monkeypatch, name: str, md5s: tuple[str, ...], mirrors=None, sizes=()) -> None:
    spec = DATASETS[name]
    spec = dataclasses.replace(spec, md5=md5s, sizes=sizes,
                               mirrors=spec.mirrors if mirrors is None else mirrors)
    monkeypatch.setitem(DATASETS, name, spec)


def test_idx_dataset_from_data_dir(tmp_path, monkeypatch):
    patch_md5(monkeypatch, "fashion-mnist", fake_idx_folder(tmp_path / "d" / "fashion-mnist"))
    assert find_files("fashion-mnist", tmp_path / "d") == tmp_path / "d" / "fashion-mnist"
    d = load_dataset("fashion-mnist", tmp_path / "d", download=False)
    assert d.x_train.shape == (12, 1, 28, 28) and d.x_test.shape == (4, 1, 28, 28)
    assert d.class_names == FASHION_NAMES and d.y_train[:3].tolist() == [0, 1, 2]
    row = next(r for r in list_datasets(tmp_path / "d") if r["name"] == "fashion-mnist")
    assert row["available"] and row["where"] == str(tmp_path / "d" / "fashion-mnist")
    monkeypatch.setenv("AEVIZ_DATA_DIR", str(tmp_path / "d"))
    assert load_dataset("fashion-mnist", download=False) is d     # same folder: cached


def test_replaced_file_is_reread(tmp_path, monkeypatch):
    patch_md5(monkeypatch, "mnist", fake_idx_folder(tmp_path / "mnist"))
    first = load_dataset("mnist", tmp_path, download=False)
    md5s = fake_idx_folder(tmp_path / "v2" / "mnist", n_train=7)
    for f in IDX_FILES:
        os.replace(tmp_path / "v2" / "mnist" / f, tmp_path / "mnist" / f)
    patch_md5(monkeypatch, "mnist", md5s)
    assert len(load_dataset("mnist", tmp_path, download=False).x_train) == 7
    assert len(first.x_train) == 12


# The cache's .verified marker once skipped the hash in a new process, and the in-process memo
# was keyed by size and mtime only; both served the forged labels. (A fresh process reading
# AEVIZ_DATA_DIR always hashed, so that case is not listed.)
@pytest.mark.parametrize("where, fresh_process", [("cache", True), ("cache", False),
                                                  ("data_dir", False)])
def test_labels_rewritten_in_place_with_same_size_and_mtime_refused(tmp_path, monkeypatch, where,
                                                                    fresh_process):
    base = tmp_path / "cache" / "data" if where == "cache" else tmp_path / "d"
    patch_md5(monkeypatch, "mnist", fake_idx_folder(base / "mnist"))
    load_dataset("mnist", None if where == "cache" else base, download=False)
    labels = base / "mnist" / IDX_FILES[1]
    st = labels.stat()
    forged = idx((np.arange(12, dtype=np.uint8) + 1) % 10)     # other labels, same length
    assert len(forged) == st.st_size
    with open(labels, "r+b") as f:                               # same inode, same size
        f.write(forged)
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns))       # mtime put back
    data.clear_cache()                                           # the parsed copy too
    if fresh_process:
        download_module.forget_verified()
    with pytest.raises(DataError, match=f"{labels} .*delete it so it is downloaded again"):
        load_dataset("mnist", None if where == "cache" else base, download=False)


def test_mismatched_counts_refused(tmp_path, monkeypatch):
    patch_md5(monkeypatch, "mnist", fake_idx_folder(tmp_path / "mnist", n_labels=11))
    with pytest.raises(DataError, match="12 images but train-labels-idx1-ubyte.gz 11 labels"):
        load_dataset("mnist", tmp_path, download=False)


def test_corrupt_file_in_data_dir_named(tmp_path, monkeypatch):
    patch_md5(monkeypatch, "mnist", fake_idx_folder(tmp_path / "mnist"))
    path = tmp_path / "mnist" / IDX_FILES[2]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=f"{path} is truncated/corrupt .*delete it"):
        load_dataset("mnist", tmp_path, download=False)


def test_missing_without_download_lists_files_md5s_and_folders(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path / "mine", download=False)
    msg = str(err.value)
    for f, m in zip(IDX_FILES, DATASETS["mnist"].md5):
        assert f"{f} (md5 {m})" in msg
    assert str(tmp_path / "mine" / "mnist") in msg and str(tmp_path / "cache") in msg
    assert "AEVIZ_DATA_DIR" in msg and "switched off" in msg


def test_download_into_cache(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    md5s = fake_idx_folder(mirror)
    sizes = tuple((mirror / f).stat().st_size for f in IDX_FILES)
    patch_md5(monkeypatch, "mnist", md5s, mirrors=(mirror.as_uri() + "/",), sizes=sizes)  # file://
    calls = []
    d = load_dataset("mnist", progress=lambda done, total: calls.append((done, total)))
    assert d.x_train.shape == (12, 1, 28, 28)
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1] == (sum(sizes), sum(sizes))   # one running total
    cached = tmp_path / "cache" / "data" / "mnist"
    assert sorted(p.name for p in cached.glob("*.gz")) == sorted(IDX_FILES)
    assert find_files("mnist") == cached


def test_offline_download_error(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    patch_md5(monkeypatch, "frey-faces", DATASETS["frey-faces"].md5,
              mirrors=(f"http://127.0.0.1:{port}/",))
    with pytest.raises(DataError, match="not downloaded \\(could not download frey_rawface.mat: "
                                        ".*cannot connect.*frey_rawface.mat \\(md5 5aeb024d"):
        load_dataset("frey-faces")


def test_frey_faces_from_mat(tmp_path, monkeypatch):
    folder = tmp_path / "frey-faces"
    folder.mkdir()
    ff = RNG.integers(0, 256, (560, 230), dtype=np.uint8)
    scipy.io.savemat(folder / "frey_rawface.mat", {"ff": ff})
    md5 = hashlib.md5((folder / "frey_rawface.mat").read_bytes()).hexdigest()
    patch_md5(monkeypatch, "frey-faces", (md5,))
    d = load_dataset("frey-faces", tmp_path, download=False)
    assert d.x_train.shape == (30, 1, 28, 20) and d.x_test.shape == (200, 1, 28, 20)
    assert d.class_names == ("face",) and d.y_train.max() == 0
    faces = np.concatenate([d.x_train, d.x_test]).reshape(230, -1) * 255
    assert {tuple(np.round(f).astype(int)) for f in faces} == {tuple(c) for c in ff.T}


@pytest.mark.parametrize("content, message", [
    ({"ff": np.zeros((560, 230), np.float64)}, "should be uint8 of shape \\(560, N\\)"),
    ({"ff": np.zeros((28, 20), np.uint8)}, "should be uint8"),
    ({"faces": np.zeros((560, 230), np.uint8)}, "no variable 'ff' found"),
    (None, "not a readable MATLAB file"),
])
def test_frey_faces_bad_file(tmp_path, monkeypatch, content, message):
    folder = tmp_path / "frey-faces"
    folder.mkdir()
    path = folder / "frey_rawface.mat"
    if content is None:
        path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    else:
        scipy.io.savemat(path, content)
    patch_md5(monkeypatch, "frey-faces", (hashlib.md5(path.read_bytes()).hexdigest(),))
    with pytest.raises(DataError, match=message):
        load_dataset("frey-faces", tmp_path, download=False)


# ------------------------------------------------------------------ real data (AEVIZ_DATA_DIR)

def real_dir(isolated: str | None, name: str) -> Path:
    if not isolated or find_files(name, isolated) is None:
        pytest.skip(f"set AEVIZ_DATA_DIR to a folder with {name}/ to run real-data tests")
    return Path(isolated)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_idx_datasets(isolated, name):
    d = load_dataset(name, real_dir(isolated, name), download=False)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(d.y_train).tolist().__len__() == 10 and d.y_test.max() == 9
    assert d.x_train.max() == 1.0 and d.x_train.min() == 0.0
    if name == "mnist":
        assert d.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    else:
        assert np.bincount(d.y_train).tolist() == [6000] * 10


def test_real_frey_faces(isolated):
    d = load_dataset("frey-faces", real_dir(isolated, "frey-faces"), download=False)
    assert len(d.x_train) + len(d.x_test) == 1965 and d.sample_shape == (1, 28, 20)
