import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from aeviz.models.checkpoint import load_checkpoint, save_checkpoint, write_json_atomic
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core.errors import CheckpointError
from aeviz.training.loop import seeded_model

CFG = ModelConfig(family="vae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture
def ckpt(tmp_path):
    model = seeded_model(CFG, 0)
    return save_checkpoint(tmp_path / "m", model, stages=(TrainConfig(epochs=1),), dataset_name="digits",
                           command="python -m aeviz train", history=[{"epoch": 1}], metrics={"a": 1.0}), model


def test_bit_exact_round_trip(ckpt):
    path, model = ckpt
    loaded = load_checkpoint(path)
    assert loaded.config == CFG and loaded.train_config == TrainConfig(epochs=1)
    assert loaded.dataset_name == "digits" and loaded.history == [{"epoch": 1}] and loaded.metrics == {"a": 1.0}
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "history.json", "metrics.json",
                                                      "model.safetensors"]


def test_half_storage_is_close_and_smaller(tmp_path, ckpt):
    path, model = ckpt
    half = save_checkpoint(tmp_path / "h", model, half=True)
    assert (half / "model.safetensors").stat().st_size < (path / "model.safetensors").stat().st_size * 0.6
    b = load_checkpoint(half).model.state_dict()
    assert all(torch.allclose(v, b[k], atol=1e-2) and b[k].dtype == torch.float32
               for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["evil.pt", "evil.pkl", "model.safetensors", "zipped.zip"])
def test_pickle_payload_refused_without_running(tmp_path, name):
    marker = tmp_path / "pwned"
    blob = pickle.dumps(Payload(marker))
    if name == "model.safetensors":
        folder = tmp_path / "ck"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"format": "aeviz-checkpoint", "version": 1,
                                                         "model": CFG.to_dict()}))
        (folder / name).write_bytes(blob)
        target = folder
    elif name == "zipped.zip":
        target = tmp_path / name
        with zipfile.ZipFile(target, "w") as z:          # torch.save's format: a zip with a pickle
            z.writestr("archive/data.pkl", blob)
        folder = tmp_path / "z"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"format": "aeviz-checkpoint", "version": 1,
                                                         "model": CFG.to_dict()}))
        (folder / "model.safetensors").write_bytes(target.read_bytes())
        target = folder
    else:
        target = tmp_path / name
        target.write_bytes(blob)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_checkpoint(target)
    assert not marker.exists()


def _header_file(path: Path, header: dict, data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_huge_header_length_refused(ckpt):
    path, _ = ckpt
    (path / "model.safetensors").write_bytes(struct.pack("<Q", 2 ** 60) + b"{}")
    with pytest.raises(CheckpointError, match="invalid header"):
        load_checkpoint(path)


def test_header_length_starting_with_pickle_byte_still_loads(ckpt):
    """A header of 896 bytes begins b'\\x80\\x03', like a protocol-3 pickle: it must load."""
    path, model = ckpt
    f = path / "model.safetensors"
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = {"format": "aeviz-checkpoint", "pad": ""}
    base = len(json.dumps(header).encode())
    header["__metadata__"]["pad"] = "x" * (896 - base)
    _header_file(f, header, raw[8 + n:])
    assert f.read_bytes()[:2] == b"\x80\x03"
    loaded = load_checkpoint(path).model.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("mutate, message", [
    (lambda h: h["head.weight"].update(shape=[10 ** 6, 10 ** 6]), "has shape"),
    (lambda h: h["head.weight"].update(dtype="I64"), "dtype"),
    (lambda h: h.pop("head.bias"), "missing tensors"),
    (lambda h: h.update(extra={"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}), "unexpected tensors"),
])
def test_lying_headers_refused(ckpt, mutate, message):
    path, _ = ckpt
    f = path / "model.safetensors"
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    mutate(header)
    _header_file(f, header, raw[8 + n:])
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_truncated_weights_refused(ckpt):
    path, _ = ckpt
    f = path / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


@pytest.mark.parametrize("config, message", [
    ("not json", "not valid JSON"),
    ('{"format": "other"}', "not an aeviz config"),
    ('{"format": "aeviz-checkpoint", "version": 99}', "version 99"),
    ('{"format": "aeviz-checkpoint", "version": 1, "model": {"latent_dim": 100000}}', "latent_dim"),
    ('{"format": "aeviz-checkpoint", "version": 1, "model": {"hidden": [8192, 8192, 8192, 8192]}}', "parameters"),
    ('{"format": "aeviz-checkpoint", "version": 1, "model": {"rm -rf": 1}}', "unknown ModelConfig keys"),
])
def test_bad_configs_refused(ckpt, config, message):
    path, _ = ckpt
    (path / "config.json").write_text(config)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_config_and_weights_mismatch(tmp_path, ckpt):
    path, _ = ckpt
    meta = json.loads((path / "config.json").read_text())
    meta["model"]["latent_dim"] = 3
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["config.json", "history.json", "metrics.json", "model.safetensors"])
@pytest.mark.parametrize("target", ["/proc/self/mem", "/proc/self/pagemap"])
def test_checkpoint_file_linked_to_a_proc_file_is_refused_in_one_sentence(ckpt, name, target):
    path, _ = ckpt
    (path / name).unlink()
    os.symlink(target, path / name)                  # stats as a regular file of 0 bytes
    with pytest.raises(CheckpointError, match=f"{name} is a link that leads outside m") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value) and "re-save the model" in str(err.value)


def test_weights_linked_to_another_folder_are_refused(tmp_path, ckpt):
    path, _ = ckpt
    other = save_checkpoint(tmp_path / "other", seeded_model(CFG, 1))
    (path / "model.safetensors").unlink()
    os.symlink(other / "model.safetensors", path / "model.safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors is a link that leads outside"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["history.json", "metrics.json"])
def test_optional_json_that_is_a_pipe_or_of_the_wrong_type_is_refused(ckpt, name):
    path, _ = ckpt
    (path / name).unlink()
    os.mkfifo(path / name)                           # opening it the old way blocked forever
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(path)
    (path / name).unlink()
    (path / name).write_text('{"a": 1}' if name == "history.json" else "[1]")
    with pytest.raises(CheckpointError, match=f"{name} holds"):
        load_checkpoint(path)


def test_weights_are_read_no_further_than_the_config_needs(ckpt):
    path, _ = ckpt
    with open(path / "model.safetensors", "r+b") as f:
        f.truncate(10 * 2 ** 30)                     # sparse: 10 GB of trailing zeros
    with pytest.raises(CheckpointError, match="model.safetensors is larger than"):
        load_checkpoint(path)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_checkpoint(tmp_path / "empty")


def test_write_json_atomic_replaces(tmp_path):
    f = tmp_path / "metrics.json"
    write_json_atomic(f, {"a": 1})
    write_json_atomic(f, {"a": 2})
    assert json.loads(f.read_text()) == {"a": 2} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


SAVER = """
import sys, time, torch
from aeviz.models import checkpoint
from aeviz.models.config import ModelConfig
from aeviz.training.loop import seeded_model
real = checkpoint._fsync_tree
def slow(folder):
    real(folder)
    print("writing", flush=True)
    time.sleep(30)                      # killed here, mid-save
checkpoint._fsync_tree = slow
model = seeded_model(ModelConfig(family="vae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2), 1)
checkpoint.save_checkpoint(sys.argv[1], model)
"""


def test_kill_during_save_leaves_previous_checkpoint_intact(ckpt):
    path, model = ckpt
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    loaded = load_checkpoint(path).model.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())


def test_interrupted_swap_is_recovered(ckpt):
    path, _ = ckpt
    os.replace(path, path.with_name(f".{path.name}.old-123"))      # killed between the two renames
    assert load_checkpoint(path).config == CFG
