"""Property-based fuzzing of every parser that reads untrusted bytes.

The property is the same everywhere: whatever the input, only the documented
AevizError subclass escapes (never a raw ValueError / KeyError / struct.error /
UnicodeDecodeError from deep inside), and what is accepted is well formed.
Budgets are bounded (max_examples <= 100, no deadline) to keep CI fast.
"""
import io
import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aeviz.data.archive import iter_members, safe_extract
from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
from aeviz.models.config import ModelConfig
from aeviz.core.errors import CheckpointError, DataError
from aeviz.data.idx import read_idx
from aeviz.training.loop import seeded_model
from aeviz.data.uploads import load_user_data

FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SMALL = dict(max_bytes=1 << 20, max_items=2_000)


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for pos, value in flips:
        out[pos % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


flips = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)
cuts = st.one_of(st.none(), st.integers(0, 4096))


def check_dataset(ds) -> None:
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.float32 and np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
    assert len(ds.y_train) == len(ds.x_train) and ds.y_train.max() < len(ds.class_names)


# --------------------------------------------------------------------------- IDX

def idx_bytes(shape: tuple[int, ...]) -> bytes:
    head = bytes([0, 0, 0x08, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    return head + bytes(int(np.prod(shape)))


@FUZZ
@given(st.binary(max_size=200))
def test_read_idx_random_bytes(blob):
    for data in (blob, b"\0\0\x08\x03" + blob, b"\x1f\x8b" + blob):
        try:
            out = read_idx(data, max_items=1000, max_bytes=1 << 20)
        except DataError:
            continue
        assert out.dtype == np.uint8 and out.size == len(data) - 4 - 4 * out.ndim


@FUZZ
@given(st.sampled_from([(5, 4, 4), (7,), (2, 3, 3, 1)]), flips, cuts, st.booleans())
def test_read_idx_mutated(shape, changes, cut, compress):
    import gzip
    data = mutate(idx_bytes(shape), changes, cut)
    data = gzip.compress(data, mtime=0) if compress else data
    try:
        read_idx(data, max_items=1000, max_bytes=1 << 20)
    except DataError:
        pass


# --------------------------------------------------------------------------- uploads

def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


arrays = st.sampled_from([np.float32, np.float64, np.uint8, np.int16, np.int64, np.bool_]).flatmap(
    lambda dt: st.tuples(st.just(dt), st.sampled_from([(6, 3), (5, 4, 4), (4, 1, 3, 3), (3, 2, 2, 3), (8,)])))


@FUZZ
@given(arrays, flips, cuts, st.integers(0, 2 ** 32 - 1))
def test_load_user_data_npy(spec, changes, cut, seed):
    dtype, shape = spec
    a = (np.random.default_rng(seed).random(shape) * 300 - 20).astype(dtype)
    data = mutate(npy_bytes(a), changes, cut) if changes or cut is not None else npy_bytes(a)
    try:
        check_dataset(load_user_data(data, "f.npy", **SMALL))
    except DataError:
        pass


@FUZZ
@given(arrays, st.lists(st.integers(0, 5), min_size=1, max_size=8), flips, cuts,
       st.sampled_from(["x", "data", "y", "other"]))
def test_load_user_data_npz(spec, labels, changes, cut, key):
    dtype, shape = spec
    a = np.ones(shape, dtype)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{key: a, "labels": np.array(labels)})
    data = mutate(buf.getvalue(), changes, cut) if changes or cut is not None else buf.getvalue()
    try:
        check_dataset(load_user_data(data, "f.npz", **SMALL))
    except DataError:
        pass


csv_text = st.lists(st.sampled_from(list("0123456789.,;\t\n\r\"-+eE ") + ["nan", "inf", "x", "label",
                                                                          "é", "\0", "\ufeff"]),
                    max_size=150).map("".join)


@FUZZ
@given(csv_text, st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_load_user_data_csv(text, encoding):
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    try:
        check_dataset(load_user_data(data, "f.csv", **SMALL))
    except DataError:
        pass


def png(mode: str, size: tuple[int, int], seed: int) -> bytes:
    from PIL import Image
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    im = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["L", "RGB", "RGBA"]),
                          st.tuples(st.integers(1, 12), st.integers(1, 12))), min_size=1, max_size=5),
       flips, st.integers(0, 4), st.sampled_from([None, (4, 4), (9, 3)]))
def test_load_user_data_image_zip(images, changes, victim, image_size):
    files = {f"c{i % 2}/{i}.png": png(mode, size, i) for i, (mode, size) in enumerate(images)}
    if changes:                                   # corrupt one image
        name = sorted(files)[victim % len(files)]
        files[name] = mutate(files[name], changes, None)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    try:
        check_dataset(load_user_data(buf.getvalue(), "f.zip", image_size=image_size, **SMALL))
    except DataError:
        pass


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".npy", ".npz", ".csv", ".zip"]))
def test_load_user_data_random_bytes(blob, suffix):
    try:
        check_dataset(load_user_data(blob, "f" + suffix, **SMALL))
    except DataError:
        pass


# --------------------------------------------------------------------------- archives

GOOD_ZIP = io.BytesIO()
with zipfile.ZipFile(GOOD_ZIP, "w", zipfile.ZIP_DEFLATED) as _z:
    _z.writestr("a.txt", b"hello" * 50)
    _z.writestr("d/b.bin", bytes(range(256)) * 4)
GOOD_ZIP = GOOD_ZIP.getvalue()

names = st.lists(st.sampled_from(list("ab./\\:") + ["..", "C:", "\0", "é"]), min_size=1,
                 max_size=12).map("".join)


@FUZZ
@given(st.lists(names, min_size=1, max_size=4), flips)
def test_safe_extract_never_writes_outside(tmp_path_factory, member_names, changes):
    root = tmp_path_factory.mktemp("x")
    (root / "box").mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, name in enumerate(member_names):
            try:
                z.writestr(name, f"data{i}".encode())
            except (ValueError, IndexError):
                continue                          # zipfile itself refuses to write this name
    data = mutate(buf.getvalue(), changes, None)
    dest = root / "box" / "out"
    try:
        written = safe_extract(data, dest, max_total_bytes=1 << 16)
    except DataError:
        assert list((root / "box").iterdir()) == []        # refused: nothing left at all
    else:
        assert all(p.resolve().is_relative_to(dest.resolve()) and p.is_file() for p in written)
    assert sorted(p.name for p in root.iterdir()) == ["box"]
    shutil.rmtree(root)


@FUZZ
@given(flips, cuts)
def test_iter_members_mutated(changes, cut):
    try:
        for name, content in iter_members(mutate(GOOD_ZIP, changes, cut), max_total_bytes=1 << 16):
            assert isinstance(name, str) and ".." not in name.split("/") and not name.startswith("/")
    except DataError:
        pass


# --------------------------------------------------------------------------- checkpoints

CFG = ModelConfig(family="vae", input_shape=(1, 4, 4), hidden=(8,), latent_dim=2)


@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "good", seeded_model(CFG, 0))


def fresh(good: Path, tmp: Path) -> Path:
    target = tmp / "ck"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(good, target)
    return target


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@FUZZ
@given(st.binary(max_size=300))
def test_load_checkpoint_random_config_bytes(tmp_path_factory, good_ckpt, blob):
    folder = fresh(good_ckpt, tmp_path_factory.mktemp("c"))
    (folder / "config.json").write_bytes(blob)
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)


@FUZZ
@given(st.sampled_from(list(CFG.to_dict()) + ["format", "version", "train", "extra"]), json_values)
def test_load_checkpoint_random_config_values(tmp_path_factory, good_ckpt, key, value):
    folder = fresh(good_ckpt, tmp_path_factory.mktemp("c"))
    meta = json.loads((folder / "config.json").read_text())
    (meta if key in ("format", "version", "train", "extra") else meta["model"])[key] = value
    (folder / "config.json").write_text(json.dumps(meta))
    try:
        ckpt = load_checkpoint(folder)
    except CheckpointError:
        return
    assert ckpt.config == ModelConfig.from_dict(meta["model"])


@FUZZ
@given(st.binary(max_size=300), flips, cuts)
def test_load_checkpoint_random_weights(tmp_path_factory, good_ckpt, blob, changes, cut):
    folder = fresh(good_ckpt, tmp_path_factory.mktemp("w"))
    f = folder / "model.safetensors"
    f.write_bytes(mutate(f.read_bytes(), changes, cut) if changes or cut is not None else blob)
    try:
        load_checkpoint(folder)
    except CheckpointError:
        pass


@FUZZ
@given(st.sampled_from(["dtype", "shape", "data_offsets", None]), json_values)
def test_load_checkpoint_random_header_fields(tmp_path_factory, good_ckpt, field, value):
    folder = fresh(good_ckpt, tmp_path_factory.mktemp("h"))
    f = folder / "model.safetensors"
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    key = sorted(k for k in header if k != "__metadata__")[0]
    if field is None:
        header[key] = value
    else:
        header[key][field] = value
    blob = json.dumps(header).encode()
    f.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])
    try:
        load_checkpoint(folder)
    except CheckpointError:
        pass


# --------------------------------------------------------------------------- URL query

query_values = st.one_of(st.text(max_size=30), st.text(alphabet="0123456789.,:-abcdeipstu/", max_size=30),
                         st.lists(st.text(max_size=10), max_size=3), st.none(), st.integers())


@FUZZ
@given(st.dictionaries(st.sampled_from(["dataset", "split", "models", "model", "proj", "t", "a", "b",
                                         "zzz"]) | st.text(max_size=5), query_values, max_size=6))
def test_query_parse_never_raises(params):
    from aeviz.ui import query, sources, state
    updates, warnings = query.parse(params)
    assert set(updates) <= {state.DATASET, state.SPLIT, state.COMPARE_MODELS, state.EXPLORE_MODEL,
                            state.PROJECTION, state.INTERP_T, state.ENDPOINTS}
    assert all(isinstance(w, str) for w in warnings)
    for model_id in updates.get(state.COMPARE_MODELS, []) + [updates.get(state.EXPLORE_MODEL)]:
        if model_id is not None:
            ref = sources.parse_model_id(model_id)          # still a valid, safe id
            assert "/" not in ref.name and ".." not in ref.name
    if state.INTERP_T in updates:
        assert 0.0 <= updates[state.INTERP_T] <= 1.0
