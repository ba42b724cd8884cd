"""Hostile data files, URL query strings and CLI flags; every limit is defined once.

Uploads (CSV/NPY/NPZ/images), dataset files, link parameters and command-line
flags are refused with one clear AevizError (CLI: "error: ..." and exit 2),
nothing is unpickled, no name becomes a path without ``safe_name``. Every
limit is defined in ``aeviz.core.limits`` only: its enforcers read it there,
no module keeps a copy, and each boundary accepts the limit and refuses one more.
"""
import ast
import gzip
import io
import os
import pickle
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aeviz.core import limits
from aeviz.core.errors import AevizError, ConfigError, DataError
from aeviz.data.uploads import load_user_data

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- limits: one definition

AEVIZ = REPO / "aeviz"
LIMIT_VALUES = {lim.value for lim in limits.LIMITS.values()}
# The short names a copy of a limit would take: ZIP_MAX_FILES -> MAX_FILES, ZIP_RATIO_FREE_BYTES -> RATIO_FREE_BYTES.
LIMIT_TAILS = {"_".join(parts[i:]) for parts in (n.split("_") for n in limits.LIMITS) for i in range(len(parts) - 1)}
# Old module-level names kept because other code imports them; each is bound to the limits constant.
PUBLIC_ALIASES = {("aeviz.models.config", "MAX_PARAMETERS"): "MODEL_MAX_PARAMETERS",
                  ("aeviz.training.jobs", "MAX_CONCURRENT"): "APP_MAX_CONCURRENT_TRAININGS"}
# MAX_ constants that bound something else and only share a value with a limit.
NOT_COPIES = {("aeviz.render.export", "MAX_SPRITE_SIDE"): "the Projector's sprite side, not MODEL_MAX_WIDTH",
              ("aeviz.render.export", "MAX_ZIP_BYTES"): "an exported zip, not IDX_MAX_BYTES",
              ("aeviz.ui.pages.export", "MAX_PROJECTOR"): "points exported to the Projector, not ZIP_MAX_FILES"}


def _modules() -> dict[str, ast.Module]:
    files = sorted(AEVIZ.rglob("*.py"))
    assert len(files) > 40, f"found only {len(files)} modules under {AEVIZ}"
    return {".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): ast.parse(f.read_text())
            for f in files}


MODULES = _modules()


def _limits_used(tree: ast.Module) -> set[str]:
    """Names of aeviz.core.limits that a module reads: ``limits.X`` or ``from aeviz.core.limits import X``."""
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "limits"}
    return used | {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and n.module == "aeviz.core.limits" for a in n.names}


_OPS = {ast.Mult: int.__mul__, ast.Pow: int.__pow__, ast.Add: int.__add__,
        ast.LShift: int.__lshift__, ast.Sub: int.__sub__}


def _literal(node: ast.AST, env: dict[str, int]) -> int | None:
    """The value of an integer expression of literals and earlier literal constants, else None."""
    if isinstance(node, ast.Constant):
        return node.value if type(node.value) is int else None
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _literal(node.left, env), _literal(node.right, env)
        return None if left is None or right is None else _OPS[type(node.op)](left, right)
    return None


def _assignments(tree: ast.Module):
    """(name, value node) of each module-level assignment, tuples unpacked."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.value
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    yield from ((t.id, v) for t, v in zip(target.elts, node.value.elts) if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            yield node.target.id, node.value


def test_no_module_keeps_its_own_copy_of_a_limit():
    copies, aliases = [], {}
    for module, tree in MODULES.items():
        if module == "aeviz.core.limits":
            continue
        env: dict[str, int] = {}
        for name, value in _assignments(tree):
            if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "limits":
                aliases[module, name] = value.attr
                continue
            number = _literal(value, env)
            if number is None:
                continue
            env[name] = number
            if name in limits.LIMITS or name in LIMIT_TAILS:
                copies.append(f"{module}.{name} = {number:,} restates the limit's name")
            elif name.lstrip("_").startswith("MAX_") and number in LIMIT_VALUES and (module, name) not in NOT_COPIES:
                copies.append(f"{module}.{name} = {number:,} has the value of a limit")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "aeviz.core.limits":
                aliases.update({(module, a.asname): a.name for a in node.names if a.asname})
    assert copies == [], "import these from aeviz.core.limits instead: " + "; ".join(copies)
    assert aliases == PUBLIC_ALIASES, "a new alias of a limit: use limits.X directly (or list it in PUBLIC_ALIASES)"
    for module, name in NOT_COPIES:
        assert name in dict(_assignments(MODULES[module])), f"NOT_COPIES lists {module}.{name}, which is gone"


@pytest.mark.parametrize("name", sorted(limits.LIMITS))
def test_each_limit_is_read_by_the_modules_named_as_its_enforcers(name):
    lim = limits.LIMITS[name]
    assert getattr(limits, name) == lim.value and type(lim.value) is int and lim.value > 0
    assert lim.where, f"{name} names no enforcing module"
    for module in lim.where:
        assert module in MODULES, f"{name} says {module} enforces it; there is no such module"
        assert name in _limits_used(MODULES[module]), f"{name} says {module} enforces it; {module} never reads it"


def test_every_reader_of_a_limit_is_named_and_every_constant_is_listed():
    constants = {k for k, v in vars(limits).items() if k.isupper() and type(v) is int and k != "MiB"}
    assert constants == set(limits.LIMITS), "each limit constant needs its LIMITS entry (and no entry without one)"
    for module, tree in MODULES.items():
        for name in _limits_used(tree) - {"LIMITS", "Limit", "MiB", "table"}:
            assert name in limits.LIMITS, f"{module} reads limits.{name}, which does not exist"
            assert module in limits.LIMITS[name].where, f"{module} enforces {name}: add it to LIMITS[{name!r}].where"


def test_limits_is_a_foundation():
    imported = {n.module for n in ast.walk(MODULES["aeviz.core.limits"]) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(MODULES["aeviz.core.limits"]) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m.startswith("aeviz")} <= {"aeviz.core.errors"}


def test_streamlit_upload_limit_matches():
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] * 2 ** 20 == limits.UPLOAD_MAX_BYTES


def test_limits_table_renders():
    table = limits.table()
    assert "200 MiB" in table and table.count("\n") == len(limits.LIMITS) + 1
    assert all(f"`{name}`" in table for name in limits.LIMITS)


# --------------------------------------------------------------------------- each boundary at its limit
# The limit is accepted and one more is refused, at the values in aeviz.core.limits: a copy that drifted fails.

def _zip_of(n_files: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n_files):
            zf.writestr(f"{i}.txt", b"")
    return buf.getvalue()


def test_zip_member_limit():
    from aeviz.data.archive import iter_members
    assert len(list(iter_members(_zip_of(limits.ZIP_MAX_FILES)))) == limits.ZIP_MAX_FILES
    with pytest.raises(DataError, match=f"{limits.ZIP_MAX_FILES + 1:,} files; the limit is"):
        list(iter_members(_zip_of(limits.ZIP_MAX_FILES + 1)))


def test_upload_byte_limit(tmp_path):
    f = tmp_path / "x.npy"
    with open(f, "wb") as out:                      # sparse: no disk or memory used until read
        out.truncate(limits.UPLOAD_MAX_BYTES + 1)
    with pytest.raises(DataError, match="the limit is 200.0 MiB"):
        load_user_data(f, "x.npy")
    with open(f, "r+b") as out:
        out.truncate(limits.UPLOAD_MAX_BYTES)
    with pytest.raises(DataError, match="not a valid .npy file"):   # read and parsed: past the size check
        load_user_data(f, "x.npy")


def test_upload_item_limit():
    def rows(n: int) -> bytes:                                  # one byte short: refused after the header checks
        return npy(np.zeros((n, 1), np.uint8))[:-1]
    with pytest.raises(DataError, match="truncated/corrupt: header says"):
        load_user_data(rows(limits.UPLOAD_MAX_ITEMS), "x.npy")
    with pytest.raises(DataError, match=f"{limits.UPLOAD_MAX_ITEMS + 1:,} samples is over the limit"):
        load_user_data(rows(limits.UPLOAD_MAX_ITEMS + 1), "x.npy")


class PastTheSizeCheck(Exception):
    pass


def test_checkpoint_upload_size_limit(monkeypatch):
    from aeviz.ui import sources

    def reached():
        raise PastTheSizeCheck
    monkeypatch.setattr(limits, "UPLOAD_MAX_BYTES", 1000)      # read at call time, never copied
    monkeypatch.setattr(sources.state, "uploads", reached)     # the first step after the size check
    with pytest.raises(AevizError, match="the limit is"):
        sources.add_upload(b"\0" * 1001, "model.zip")
    with pytest.raises(PastTheSizeCheck):
        sources.add_upload(b"\0" * 1000, "model.zip")


def test_checkpoint_json_limit(tmp_path):
    from aeviz.core.errors import CheckpointError
    from aeviz.models.checkpoint import read_json
    f = tmp_path / "config.json"
    f.write_bytes(b"{}" + b" " * (limits.CHECKPOINT_MAX_JSON_BYTES - 2))
    assert read_json(f, "config") == {}
    f.write_bytes(b"{}" + b" " * (limits.CHECKPOINT_MAX_JSON_BYTES - 1))
    with pytest.raises(CheckpointError, match="is larger than 4 MB"):
        read_json(f, "config")


def _mlp_with_parameters(n: int):
    """An mlp ModelConfig (D,) -> (h,) -> z whose parameter_count() is exactly ``n``."""
    from aeviz.models.config import ModelConfig
    for h in range(128, limits.MODEL_MAX_WIDTH + 1):
        for z in range(1, limits.MODEL_MAX_LATENT + 1):
            d, rest = divmod(n - 2 * h - 3 * z * (h + 1), 2 * h + 1)   # count = d(2h+1) + 2h + 3z(h+1)
            if rest == 0 and 1 <= d <= limits.MODEL_MAX_INPUT_SIZE:
                return lambda: ModelConfig(family="ae", backbone="mlp", input_shape=(d,), hidden=(h,), latent_dim=z)
    raise AssertionError(f"no mlp has exactly {n} parameters")


def test_model_parameter_limit():
    from aeviz.models.config import ModelConfig
    at = _mlp_with_parameters(limits.MODEL_MAX_PARAMETERS)
    over = _mlp_with_parameters(limits.MODEL_MAX_PARAMETERS + 1)
    assert at().parameter_count() == limits.MODEL_MAX_PARAMETERS
    with pytest.raises(ConfigError, match=f"{limits.MODEL_MAX_PARAMETERS + 1:,} parameters"):
        over()
    assert ModelConfig(input_shape=(4,), hidden=(4,) * limits.MODEL_MAX_LAYERS).hidden
    assert ModelConfig(input_shape=(4,), hidden=(limits.MODEL_MAX_WIDTH,), latent_dim=limits.MODEL_MAX_LATENT)
    assert ModelConfig(input_shape=(limits.MODEL_MAX_INPUT_SIZE,), hidden=(1,), latent_dim=1)
    for over_one in ({"hidden": (4,) * (limits.MODEL_MAX_LAYERS + 1)}, {"hidden": (limits.MODEL_MAX_WIDTH + 1,)},
                     {"latent_dim": limits.MODEL_MAX_LATENT + 1},
                     {"input_shape": (limits.MODEL_MAX_INPUT_SIZE + 1,), "hidden": (1,), "latent_dim": 1}):
        with pytest.raises(ConfigError):
            ModelConfig(**{"input_shape": (4,), "hidden": (4,), **over_one})


def test_epoch_and_batch_limits():
    from aeviz.models.config import TrainConfig
    TrainConfig(epochs=limits.TRAIN_MAX_EPOCHS, batch_size=limits.TRAIN_MAX_BATCH)
    with pytest.raises(ConfigError, match=f"epochs must be in 1..{limits.TRAIN_MAX_EPOCHS}"):
        TrainConfig(epochs=limits.TRAIN_MAX_EPOCHS + 1)
    with pytest.raises(ConfigError, match=f"batch_size must be in 1..{limits.TRAIN_MAX_BATCH}"):
        TrainConfig(batch_size=limits.TRAIN_MAX_BATCH + 1)


def _idx_header(*dims: int) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + np.array(dims, ">u4").tobytes()


def test_idx_limits():
    from aeviz.data.idx import read_idx
    truncated = "truncated/corrupt: expected"                  # past every limit; only the data is missing
    with pytest.raises(DataError, match=truncated):
        read_idx(_idx_header(2, limits.IDX_MAX_BYTES // 2))    # np.empty: address space, not memory
    with pytest.raises(DataError, match=f"claims {limits.IDX_MAX_BYTES + 1:,} bytes"):
        read_idx(_idx_header(3, (limits.IDX_MAX_BYTES + 1) // 3))
    assert (limits.IDX_MAX_BYTES + 1) % 3 == 0
    with pytest.raises(DataError, match=truncated):
        read_idx(_idx_header(limits.IDX_MAX_ITEMS))
    with pytest.raises(DataError, match=f"claims {limits.IDX_MAX_ITEMS + 1:,} items"):
        read_idx(_idx_header(limits.IDX_MAX_ITEMS + 1))
    assert read_idx(_idx_header(*[1] * limits.IDX_MAX_NDIM) + b"\7").shape == (1,) * limits.IDX_MAX_NDIM
    with pytest.raises(DataError, match=f"says {limits.IDX_MAX_NDIM + 1} dimensions"):
        read_idx(_idx_header(*[1] * (limits.IDX_MAX_NDIM + 1)) + b"\7")


def test_name_limit():
    from aeviz.core.paths import safe_name
    assert safe_name("a" * limits.NAME_MAX_CHARS)
    with pytest.raises(ConfigError, match=f"use 1-{limits.NAME_MAX_CHARS} letters"):
        safe_name("a" * (limits.NAME_MAX_CHARS + 1))


def test_link_limits(query):
    too_long = "Ignored the link's 'dataset': the value is too long or not text."
    assert too_long not in query.parse({"dataset": "d" * limits.QUERY_MAX_VALUE_CHARS})[1]
    assert query.parse({"dataset": "d" * (limits.QUERY_MAX_VALUE_CHARS + 1)})[1] == [too_long]
    last = str(limits.QUERY_MAX_INDEX - 1)
    assert query.parse({"a": last, "b": "0"}) == ({query.state.ENDPOINTS: [int(last), 0]}, [])
    assert query.parse({"a": str(limits.QUERY_MAX_INDEX), "b": "0"})[1]
    ids = ["pca:digits-2"] * limits.QUERY_MAX_MODELS
    assert query.parse({"models": ",".join(ids)}) == ({query.state.COMPARE_MODELS: ids}, [])
    assert query.parse({"models": ",".join(ids + ids[:1])})[1]


# --------------------------------------------------------------------------- upload size

def test_upload_size_limit_enforced_with_clear_message(tmp_path):
    data = b"1,2\n3,4\n" * 1000                                   # 8,000 bytes
    with pytest.raises(DataError, match=r"big\.csv is .* the limit is"):
        load_user_data(data, "big.csv", max_bytes=4096)
    f = tmp_path / "big.csv"
    f.write_bytes(data)
    with pytest.raises(DataError, match="the limit is"):
        load_user_data(f, "big.csv", max_bytes=4096)
    assert load_user_data(data, "ok.csv", max_bytes=8000).x_train.shape[1] == 2


# --------------------------------------------------------------------------- arrays and CSV

class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_pickled_arrays_never_unpickled(tmp_path):
    marker = tmp_path / "PWNED"
    evil = np.array([Payload(marker), 1.0], dtype=object)
    for data, name in [(npy(evil), "x.npy"), (npz(x=np.ones((4, 2)), y=evil), "x.npz"),
                       (npz(x=evil), "x.npz"), (pickle.dumps(Payload(marker)), "x.npy"),
                       (npy(np.ones((4, 2))) + pickle.dumps(Payload(marker)), "x.npy")]:
        with pytest.raises(DataError):
            load_user_data(data, name)
    assert not marker.exists()


GOOD = npy(np.ones((4, 2)))


@pytest.mark.parametrize("data, name, message", [
    (npy(np.array([[1.0, np.nan], [2, 3], [4, 5]])), "x.npy", "NaN/inf"),
    (npy(np.array([[1.0, np.inf], [2, 3], [4, 5]])), "x.npy", "NaN/inf"),
    (npy(np.ones((3, 3), complex)), "x.npy", "dtype"),
    (npy(np.array(["a", "b"])), "x.npy", "dtype"),
    (npy(np.zeros(3, [("a", "f4")])), "x.npy", "dtype"),
    (npy(np.float64(3.0)), "x.npy", "scalar"),
    (npy(np.ones((2, 2, 2, 2, 2))), "x.npy", "shape"),
    (GOOD.replace(b"(4, 2)", b"(99999999999, 2)"), "x.npy", "limit"),     # header claims 1.6 TB
    (GOOD.replace(b"(4, 2)", b"(4, 99999999)"), "x.npy", "values"),
    (GOOD.replace(b"(4, 2)", b"(5, 2)"), "x.npy", "truncated"),
    (GOOD[:-8], "x.npy", "truncated"),
    (GOOD[:20], "x.npy", "not a valid .npy"),
    (npz(a=np.ones((4, 2)), b=np.ones((4, 2))), "x.npz", "no array named"),
    (npz(x=np.ones((4, 2)), y=np.ones(3)), "x.npz", "one per sample"),
    (npz(x=np.ones((4, 2)), y=np.array([0.5, 1, 2, 3])), "x.npz", "whole numbers"),
    (npz(x=np.ones((400, 2)), y=np.arange(400)), "x.npz", "classes"),
    (b"a,b\n1,nan\n2,3\n", "x.csv", "NaN/inf"),
    (b"1,2\n3,inf\n", "x.csv", "NaN/inf"),
    (b"1,2,3\n4,5\n", "x.csv", "ragged"),
    (b"a,b,c\n1,x,3\n2,3,4\n", "x.csv", "not a number"),
    (b"a,b\n\xff\xfe,1\n", "x.csv", "UTF-8"),
    (b"1," + b"9" * 200_000 + b"\n1,2\n", "x.csv", "malformed"),
    (b"a,b\n", "x.csv", "no data rows"),
    (b"", "x.csv", "empty"),
    (b"x", "x.exe", "unsupported file type"),
    (b"x", "x.pkl", "unsupported file type"),
])
def test_bad_data_files_refused(data, name, message):
    with pytest.raises(DataError, match=message):
        load_user_data(data, name)


def test_too_many_rows_refused():
    with pytest.raises(DataError, match="limit"):
        load_user_data(b"1,2\n" * 101, "x.csv", max_items=100)
    with pytest.raises(DataError, match="limit"):
        load_user_data(npy(np.ones((101, 2))), "x.npy", max_items=100)


def test_uploaded_dataset_arrays_are_read_only():
    ds = load_user_data(npy(np.random.default_rng(0).random((20, 3))), "x.npy")
    for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 0


# --------------------------------------------------------------------------- images

def image_bytes(mode: str, size: tuple[int, int], fmt: str = "PNG", color=100) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt)
    return buf.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_mixed_modes_and_sizes_become_one_shape():
    files = {"a/1.png": image_bytes("L", (8, 8)), "a/2.png": image_bytes("RGB", (10, 6), "PNG", (255, 0, 0)),
             "b/3.png": image_bytes("RGBA", (8, 8), "PNG", (0, 0, 0, 0)), "b/4.png": image_bytes("P", (8, 8)),
             "b/5.bmp": image_bytes("1", (8, 8), "BMP", 1), "b/6.png": image_bytes("I;16", (8, 8)),
             "b/7.jpg": image_bytes("CMYK", (16, 16), "JPEG", (0, 0, 0, 0)),
             "b/8.gif": image_bytes("L", (8, 8), "GIF")}
    ds = load_user_data(zipped(files), "mixed.zip")
    assert ds.sample_shape == (3, 8, 8) and ds.class_names == ("a", "b")
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1


@pytest.mark.parametrize("bad", [
    b"\x89PNG\r\n\x1a\n" + b"junk" * 10,                 # PNG signature, garbage body
    image_bytes("L", (8, 8))[:30],                       # truncated header
    b"GIF89a" + b"\xff" * 20,
    b"",
    b"BM" + b"\x00" * 60,
])
def test_corrupt_image_named_in_error(bad):
    files = {"good1.png": image_bytes("L", (8, 8)), "good2.png": image_bytes("L", (8, 8)),
             "broken.png": bad}
    with pytest.raises(DataError, match="broken.png"):
        load_user_data(zipped(files), "imgs.zip")


def test_upload_of_only_corrupt_images_names_them():
    """Regression: with no readable image at all, the refusal used to be a raw TypeError."""
    files = {"a.png": b"\x89PNG\r\n\x1a\nbroken", "b.png": b"", "c.jpg": b"\xff\xd8\xff"}
    with pytest.raises(DataError, match="3 file.*a.png, b.png, c.jpg"):
        load_user_data(zipped(files), "imgs.zip")


def test_decompression_bomb_image_refused_before_decoding():
    from PIL import Image
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, "PNG")   # 100 Mpx in ~30 kB
    files = {"bomb.png": buf.getvalue(), "a.png": image_bytes("L", (8, 8)),
             "b.png": image_bytes("L", (8, 8))}
    with pytest.raises(DataError, match="bomb.png"):
        load_user_data(zipped(files), "imgs.zip")


# --------------------------------------------------------------------------- dataset files

def test_tampered_dataset_file_refused_by_md5_before_parsing(tmp_path, monkeypatch):
    """A dataset file with a lying IDX header is never parsed: its MD5 is checked first."""
    from aeviz.data import registry as data
    folder = tmp_path / "mnist"
    folder.mkdir()
    spec = data.DATASETS["mnist"]
    lying = b"\0\0\x08\x03" + (100_000).to_bytes(4, "big") + (1 << 14).to_bytes(4, "big") * 2
    for f in spec.files:
        (folder / f).write_bytes(gzip.compress(lying))
    with pytest.raises(DataError, match="MD5"):
        data.load_dataset("mnist", data_dir=tmp_path, download=False)


# --------------------------------------------------------------------------- URL query

@pytest.fixture(scope="module")
def query():
    from aeviz.ui import query as q
    return q


@pytest.mark.parametrize("params", [
    {"dataset": "../../etc"}, {"dataset": "/etc/passwd"}, {"dataset": "digits\0"},
    {"models": "user:../x"}, {"models": "user:/etc/passwd"}, {"models": "user:a/b"},
    {"models": "user:..", "model": "pretrained:..%2F..%2Fetc"}, {"model": "upload:0123abcd"},
    {"models": ",".join(["pca:digits-2"] * 4)}, {"model": "file:///etc/passwd"},
    {"model": "user:" + "a" * 65}, {"model": "user:a\0b"}, {"model": "user:.hidden"},
    {"proj": "../umap"}, {"split": "train;rm -rf"}, {"t": "nan"}, {"t": "1e308"}, {"t": "-0.1"},
    {"a": "1", "b": "99999999999"}, {"a": "-1", "b": "2"}, {"a": "1"}, {"a": "1e3", "b": "2"},
    {"dataset": "d" * 100_000}, {"__proto__": "x"}, {"t": ["0.5", "../x"]},
])
def test_malicious_query_values_ignored_with_warning(query, params):
    updates, warnings = query.parse(params)
    assert warnings, params
    for value in updates.values():           # only whitelisted or range-checked values survive
        assert "/" not in str(value) and "\0" not in str(value) and ".." not in str(value)


def test_valid_query_values_accepted(query):
    from aeviz.ui import state
    updates, warnings = query.parse({"dataset": "digits", "split": "train", "proj": "pca",
                                     "models": "pretrained:digits-ae-2,pca:digits-2", "a": "3",
                                     "b": "17", "t": "0.25"})
    assert warnings == []
    assert updates[state.DATASET] == "digits" and updates[state.ENDPOINTS] == [3, 17]
    assert updates[state.COMPARE_MODELS] == ["pretrained:digits-ae-2", "pca:digits-2"]


@pytest.mark.parametrize("text", ["user:../../etc", "user:/abs", "pretrained:a/b", "user:a\\b",
                                  "user:", ":x", "user:..", "user:a..b", "user:CON\0", "x:y",
                                  None, 5, "user:" + "é"])
def test_model_ids_never_become_paths(text):
    from aeviz.ui import sources
    with pytest.raises(ConfigError):
        sources.parse_model_id(text)


def test_accepted_model_ids_stay_inside_their_folder(tmp_path, monkeypatch):
    from aeviz.ui import sources
    monkeypatch.setenv("AEVIZ_MODELS_DIR", str(tmp_path / "models"))
    (tmp_path / "models" / "m.v1").mkdir(parents=True)
    (tmp_path / "models" / "m.v1" / "config.json").write_text("{}")
    ref = sources.parse_model_id("user:m.v1")
    assert ref.folder() == tmp_path / "models" / "m.v1"
    assert ref.folder().resolve().is_relative_to((tmp_path / "models").resolve())


# --------------------------------------------------------------------------- CLI flags

BAD_FLAGS = [
    (["train", "--dataset", "../x", "--out", "o"], "unknown dataset"),
    (["train", "--dataset", "/etc/passwd", "--out", "o"], "unknown dataset"),
    (["train", "--family", "pca", "--out", "existing"], "not an aeviz checkpoint"),
    (["train", "--family", "pca", "--out", "a-file.txt"], "not an aeviz checkpoint"),
    (["train", "--family", "pca", "--out", "a-file.txt/sub/model"], "is a file"),
    (["train", "--family", "pca", "--out", "a\0b"], "NUL"),
    (["train", "--family", "pca", "--device", "../x", "--out", "o"], "unknown device"),
    (["train", "--family", "pca", "--device", "meta", "--out", "o"], "unknown device"),
    (["train", "--family", "pca", "--device", "cuda:99", "--out", "o"], "not available"),
    (["train", "--latent-dim", "99999999999999999999", "--out", "o"], "latent_dim"),
    (["train", "--hidden", "99999999999", "--out", "o"], "hidden"),
    (["train", "--hidden", "8192,8192,8192,8192,8192,8192,8192,8192", "--out", "o"], "parameters"),
    (["train", "--epochs", "-1", "--out", "o"], "epochs"),
    (["train", "--seed", "-5", "--out", "o"], "seed"),
    (["train", "--grad-clip", "nan", "--out", "o"], "finite"),
    (["train", "--beta", "inf", "--out", "o"], "beta"),
    (["train", "--lr", "1e309", "--out", "o"], "lr"),
    (["eval", "existing"], "has no config.json"),
    (["eval", "model.pt"], "never unpickles"),
]


@pytest.fixture
def cli_dir(tmp_path, monkeypatch):
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("mine")
    (tmp_path / "a-file.txt").write_text("mine")
    (tmp_path / "model.pt").write_bytes(pickle.dumps(Payload(tmp_path / "PWNED")))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / "o").exists() and not (tmp_path / "PWNED").exists()
    assert (tmp_path / "existing" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "a-file.txt").read_text() == "mine"


@pytest.mark.parametrize("args, message", BAD_FLAGS)
def test_cli_refuses_bad_flags_cleanly(cli_dir, capsys, args, message):
    from aeviz.cli import main as cli
    argv = args + (["--no-progress"] if args[0] == "train" else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error:"), err


def test_cli_subprocess_exit_status_and_no_traceback(cli_dir):
    """The same refusals through a real `python -m aeviz` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "AEVIZ_CACHE_DIR": str(cli_dir / "cache")}
    for args, message in [BAD_FLAGS[0], BAD_FLAGS[2], BAD_FLAGS[-1]]:
        proc = subprocess.run([sys.executable, "-m", "aeviz", *args], capture_output=True, text=True,
                              timeout=120, cwd=cli_dir, env=env)
        assert proc.returncode == 2, proc.stderr[-1500:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("error:")


# --------------------------------------------------------------------------- Pillow sees only chosen formats

def test_every_image_open_in_aeviz_names_its_formats():
    """Image.open without ``formats`` lets Pillow pick any of ~40 decoders (EPS runs Ghostscript)."""
    unnamed = [f"{module}:{node.lineno}" for module, tree in MODULES.items() for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr == "open" and isinstance(node.func.value, ast.Name)
               and node.func.value.id == "Image" and "formats" not in {k.arg for k in node.keywords}]
    assert unnamed == [], "pass formats=[...] (in aeviz.data use open_image): " + ", ".join(unnamed)


def test_image_upload_with_eps_named_png_never_runs_an_interpreter(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin, Image
    marker, bin_dir = tmp_path / "interpreter-ran", tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gs", "gswin64c", "convert", "magick"):          # whatever Pillow might look for
        (bin_dir / tool).write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)
    eps = io.BytesIO()
    Image.new("L", (8, 8), 50).save(eps, "EPS")
    files = {"a/1.png": image_bytes("L", (8, 8)), "a/2.png": image_bytes("L", (8, 8)),
             "b/evil.png": eps.getvalue(), "b/evil.jpg": eps.getvalue()}
    with pytest.raises(DataError, match=r"evil.jpg \(holds EPS, not JPEG\), b/evil.png \(holds EPS, not PNG\)"):
        load_user_data(zipped(files), "imgs.zip")
    assert not marker.exists()


def test_image_pixel_total_of_an_upload_is_limited():
    from PIL import Image
    buf = io.BytesIO()
    Image.new("1", (4096, 4096), 1).save(buf, "PNG")     # each under the per-image limit, ~2 kB
    n = limits.UPLOAD_MAX_TOTAL_PIXELS // 4096 ** 2 + 1
    with pytest.raises(DataError, match=f"{n * 4096 ** 2:,} pixels in all; the limit for one upload is "
                                        f"{limits.UPLOAD_MAX_TOTAL_PIXELS:,}"):
        load_user_data(zipped({f"{i}.png": buf.getvalue() for i in range(n)}), "imgs.zip")
