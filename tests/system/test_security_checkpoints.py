"""Attacks on checkpoint loading: pickles, lying safetensors headers, hostile config.json.

Every hostile file must be refused with a CheckpointError that says what is
wrong, without running code (a marker file proves nothing ran) and without
allocating what the file claims (peak RSS is measured in a subprocess).
"""
import io
import json
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aeviz.models.checkpoint as ckpt_mod
from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
from aeviz.models.config import MAX_PARAMETERS, ModelConfig
from aeviz.core.errors import AevizError, CheckpointError, ConfigError, DataError
from aeviz.models.families import build
from aeviz.training.loop import seeded_model

REPO = Path(__file__).resolve().parents[2]
CFG = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


class Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture
def folder(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "good", seeded_model(CFG, 0), dataset_name="digits")


def _meta(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _header(folder: Path) -> tuple[dict, bytes]:
    raw = (folder / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _write_weights(folder: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data)


# --------------------------------------------------------------------------- pickles

def _torch_save_bytes(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"state": Payload(marker)}, buf)       # a real PyTorch zip with a pickle inside
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["raw-pickle", "torch.save"])
@pytest.mark.parametrize("name", ["model.safetensors", "evil.pt", "evil.pkl", "evil.safetensors"])
def test_pickle_payload_never_runs(tmp_path, folder, kind, name):
    marker = tmp_path / "PWNED"
    blob = pickle.dumps(Payload(marker)) if kind == "raw-pickle" else _torch_save_bytes(marker)
    if name == "model.safetensors":               # inside an otherwise valid folder
        (folder / name).write_bytes(blob)
        target = folder
    else:                                          # a lone file handed to the loader
        target = tmp_path / name
        target.write_bytes(blob)
    with pytest.raises(CheckpointError, match="never unpickles|refused") as err:
        load_checkpoint(target)
    assert "pickle" in str(err.value).lower() or "not a checkpoint folder" in str(err.value)
    assert not marker.exists()


def _upload_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def upload_session(tmp_path, monkeypatch):
    """The app's checkpoint-upload path (sources.add_upload) with a private temp dir."""
    import tempfile

    import streamlit as st_

    from aeviz.ui import sources, state
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "sessions"))
    (tmp_path / "sessions").mkdir()
    for key in list(st_.session_state):
        del st_.session_state[key]
    st_.session_state[state.UPLOADS] = {}
    yield sources
    for key in list(st_.session_state):
        del st_.session_state[key]


def test_pickle_hidden_in_checkpoint_zip_upload_never_runs(tmp_path, folder, upload_session):
    marker = tmp_path / "PWNED"
    config = (folder / "config.json").read_bytes()
    for blob in (pickle.dumps(Payload(marker)), _torch_save_bytes(marker)):
        data = _upload_zip({"m/config.json": config, "m/model.safetensors": blob,
                            "m/data.pkl": pickle.dumps(Payload(marker))})
        with pytest.raises(CheckpointError, match="never unpickles"):
            upload_session.add_upload(data, "model.zip")
    data = _upload_zip({"model.pt": _torch_save_bytes(marker)})       # only a .pt inside
    with pytest.raises(CheckpointError, match="holds no config.json"):
        upload_session.add_upload(data, "model.zip")
    assert not marker.exists()
    assert not upload_session.state.uploads()          # nothing was registered


def test_checkpoint_zip_upload_round_trip_and_traversal(tmp_path, folder, upload_session):
    members = {f"m/{p.name}": p.read_bytes() for p in folder.iterdir()}
    model_id = upload_session.add_upload(_upload_zip(members), "model.zip")
    assert model_id.startswith("upload:") and upload_session.state.uploads()[model_id].config == CFG
    before = sorted(p.name for p in tmp_path.iterdir())
    evil = _upload_zip({**members, "../../escaped.txt": b"x"})
    with pytest.raises(DataError, match="escape"):
        upload_session.add_upload(evil, "model.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not list(tmp_path.rglob("escaped.txt"))


# --------------------------------------------------------------------------- safetensors headers

def _set(header, key, field, value):
    header[key][field] = value


@pytest.mark.parametrize("mutate, message", [
    (lambda h, k: _set(h, k, "dtype", "I64"), "dtype"),
    (lambda h, k: _set(h, k, "dtype", "F64"), "dtype"),
    (lambda h, k: _set(h, k, "dtype", ["F32"]), "dtype"),
    (lambda h, k: _set(h, k, "dtype", None), "dtype"),
    (lambda h, k: _set(h, k, "shape", [100_000, 100_000, 10]), "has shape"),   # 400 GB
    (lambda h, k: _set(h, k, "shape", 5), "has shape"),
    (lambda h, k: _set(h, k, "shape", "abc"), "has shape"),
    (lambda h, k: _set(h, k, "shape", [-1]), "has shape"),
    (lambda h, k: _set(h, k, "data_offsets", [0, 10 ** 30]), "truncated or padded"),
    (lambda h, k: _set(h, k, "data_offsets", "x"), "invalid data offsets"),
    (lambda h, k: _set(h, k, "data_offsets", [0, 4]), "could not be read"),
    (lambda h, k: h.update({k: "F32"}), "dtype"),
    (lambda h, k: h.update({"../../etc": h.pop(k)}), "unexpected tensors"),
])
def test_lying_safetensors_header_refused(folder, mutate, message):
    header, data = _header(folder)
    key = next(k for k in header if k != "__metadata__")
    mutate(header, key)
    _write_weights(folder, header, data)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


@pytest.mark.parametrize("raw", [
    struct.pack("<Q", 100 * 2 ** 30) + b"{}",                     # header claims 100 GB
    struct.pack("<Q", 2 ** 64 - 1) + b"{}",
    struct.pack("<Q", 1) + b"{",
    b"\x00" * 7,
    b"",
    struct.pack("<Q", 200_002) + b"[" * 100_001 + b"]" * 100_001,  # nesting bomb
    struct.pack("<Q", 6) + b"\xff\xfe{}{}",
    struct.pack("<Q", 2) + b"[]",
])
def test_garbage_weights_refused(folder, raw):
    (folder / "model.safetensors").write_bytes(raw)
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)


# --------------------------------------------------------------------------- config.json

def _with_model(**changes):
    return lambda meta: meta["model"].update(changes)


@pytest.mark.parametrize("mutate, message", [
    (_with_model(hidden=[8192] * 8), "parameters"),
    (_with_model(latent_dim=10 ** 9), "latent_dim"),
    (_with_model(latent_dim=2 ** 70), "latent_dim"),
    (_with_model(input_shape=[3, 100_000, 100_000]), "input_shape"),
    (_with_model(input_shape=[1, 1, 1, 1, 1]), "input_shape"),
    (_with_model(input_shape=[0, 8, 8]), "input_shape"),
    (_with_model(hidden=[16] * 9), "hidden"),
    (_with_model(hidden=[16] * 17), "at most 16"),
    (_with_model(hidden="16,16"), "list"),
    (_with_model(latent_dim="2"), "integer"),
    (_with_model(latent_dim=2.0), "integer"),
    (_with_model(latent_dim=True), "integer"),
    (_with_model(beta="1"), "number"),
    (_with_model(family="pickle"), "family"),
    (_with_model(family=["ae"]), "short string"),
    (_with_model(family="a" * 10_000), "short string"),
    (_with_model(beta=float("nan")), "beta"),
    (_with_model(beta=float("inf")), "beta"),
    (_with_model(__class__="os.system"), "unknown ModelConfig keys"),
    (_with_model(backbone="conv", input_shape=[1, 2, 2], hidden=[8, 8, 8]), "conv"),
    (lambda m: m.update(model=[1, 2]), "JSON object"),
    (lambda m: m.update(model=None), "JSON object"),
    (lambda m: m.update(train={"epochs": 1, "grad_clip": float("nan")}), "finite"),
    (lambda m: m.update(train={"epochs": 1, "weight_decay": float("inf")}), "finite"),
    (lambda m: m.update(train={"epochs": "1"}), "integer"),
    (lambda m: m.update(train={"hook": "x"}), "unknown TrainConfig keys"),
    (lambda m: m.update(train=[1]), "JSON object"),
    (lambda m: m.update(version="1"), "version"),
    (lambda m: m.update(format="pickle"), "not an aeviz config"),
])
def test_hostile_config_refused_before_building(folder, monkeypatch, mutate, message):
    meta = _meta(folder)
    mutate(meta)
    (folder / "config.json").write_text(json.dumps(meta))
    built = []
    monkeypatch.setattr(ckpt_mod, "build", lambda cfg: built.append(cfg) or build(cfg))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)
    assert built == []                   # refused before any tensor was allocated


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,                     # RecursionError inside json
    b'{"format": "aeviz-checkpoint", "version": 1, "model": {"latent_dim": ' + b"9" * 5000 + b"}}",
    b'{"format": "\xff\xfe"}',                           # not UTF-8
    b"\x00" * 100,
    b"",
])
def test_unparseable_config_refused(folder, raw):
    (folder / "config.json").write_bytes(raw)
    with pytest.raises(CheckpointError, match="config"):
        load_checkpoint(folder)


def test_oversized_json_files_refused_without_reading(folder):
    for name in ("config.json", "history.json"):
        with open(folder / name, "r+b") as f:
            f.truncate(50 * 2 ** 30)         # sparse: claims 50 GB, occupies nothing
        with pytest.raises(CheckpointError, match="larger than"):
            load_checkpoint(folder)
        (folder / name).write_text("[]" if name == "history.json" else json.dumps(
            {"format": "aeviz-checkpoint", "version": 1, "model": CFG.to_dict()}))


# --------------------------------------------------------------------------- memory

MEMORY_PROBE = textwrap.dedent("""
    import json, resource, struct, sys
    from pathlib import Path
    from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
    from aeviz.models.config import ModelConfig
    from aeviz.core.errors import CheckpointError
    from aeviz.training.loop import seeded_model

    root = Path(sys.argv[1])
    cfg = ModelConfig(family="vae", input_shape=(1, 28, 28), hidden=(64,), latent_dim=2)
    good = save_checkpoint(root / "good", seeded_model(cfg, 0))
    load_checkpoint(good)                                    # baseline includes a real load
    raw = (good / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])

    def weights(folder, hdr, tail=b"", size=None):
        blob = json.dumps(hdr).encode()
        f = folder / "model.safetensors"
        f.write_bytes(struct.pack("<Q", len(blob)) + blob + tail)
        if size:
            with open(f, "r+b") as fh:
                fh.truncate(size)                           # sparse file of `size` bytes

    def case_claims_100gb_shape(folder):
        h = json.loads(json.dumps(header))
        key = next(k for k in h if k != "__metadata__")
        h[key]["shape"] = [250_000, 100_000]               # 100 GB of float32
        h[key]["data_offsets"] = [0, 100 * 2 ** 30]
        weights(folder, h)

    def case_sparse_100gb_file(folder):
        weights(folder, header, raw[8 + n:], size=100 * 2 ** 30)

    def case_header_length_100gb(folder):
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", 100 * 2 ** 30) + b"{" * 64)

    def case_config_huge_model(folder):
        meta = json.loads((folder / "config.json").read_text())
        meta["model"].update(hidden=[8192] * 8, latent_dim=1024, input_shape=[3, 256, 256])
        (folder / "config.json").write_text(json.dumps(meta))

    def case_config_at_size_limit(folder):
        meta = json.loads((folder / "config.json").read_text())
        meta["model"].update(hidden=[4096, 4096])          # ~20M parameters: allowed, but weights lie
        (folder / "config.json").write_text(json.dumps(meta))

    import shutil
    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = peak_mb()
    out, grew = {}, {}
    for fn in (case_claims_100gb_shape, case_sparse_100gb_file, case_header_length_100gb,
               case_config_huge_model, case_config_at_size_limit):
        folder = root / fn.__name__
        shutil.copytree(good, folder)
        fn(folder)
        try:
            load_checkpoint(folder)
            out[fn.__name__] = "LOADED"
        except CheckpointError as e:
            out[fn.__name__] = str(e)[:120]
        shutil.rmtree(folder)
        grew[fn.__name__] = peak_mb() - base                # cumulative peak growth
    print(json.dumps({"grew_mb": grew, "results": out}))
""")


def test_memory_stays_bounded_on_huge_claims(tmp_path):
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(v != "LOADED" for v in report["results"].values()), report
    grew = report["grew_mb"]
    # files and configs claiming 100 GB or 4e9 parameters: refused from their headers alone
    assert grew["case_config_huge_model"] < 200, report
    # a config just under MODEL_MAX_PARAMETERS (20M float32 = 80 MB if built) is built on the
    # meta device, so its lying weights are refused before any weight memory is spent
    assert grew["case_config_at_size_limit"] - grew["case_config_huge_model"] < 40, report


# --------------------------------------------------------------------------- the parameter bound

configs = st.builds(
    ModelConfig,
    family=st.sampled_from(["ae", "dae", "sae", "vae", "pca"]),
    backbone=st.sampled_from(["mlp", "conv"]),
    input_shape=st.one_of(st.tuples(st.integers(1, 64)),
                          st.tuples(st.integers(1, 3), st.integers(4, 40), st.integers(4, 40))),
    latent_dim=st.integers(1, 32),
    hidden=st.lists(st.integers(1, 48), min_size=1, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_parameter_count_is_an_upper_bound(data):
    """MAX_PARAMETERS only bounds memory if the estimate never undercounts the real model."""
    try:
        cfg = data.draw(configs)
    except ConfigError:
        return                          # an invalid combination: refused, as it should be
    model = build(cfg)
    real = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    assert real <= cfg.parameter_count() <= MAX_PARAMETERS


def test_refusals_are_aeviz_errors():
    """The CLI and app print AevizError messages; CheckpointError must be one."""
    assert issubclass(CheckpointError, AevizError) and issubclass(CheckpointError, ValueError)
