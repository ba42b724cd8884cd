"""Faults: diverging training, downloads cut mid-body, full disks, unwritable caches.

Each fault must end in one clear AevizError, keep what was good (last good
weights, the previous checkpoint, a verified file) and never leave a partial
file that a later run could take for a good one.
"""
import copy
import dataclasses
import errno
import gzip
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

import aeviz.models.checkpoint as ckpt_mod
from aeviz.data import registry as data_mod
from aeviz.models.checkpoint import load_checkpoint, save_checkpoint, write_json_atomic
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.data.download import download
from aeviz.core.errors import AevizError, CheckpointError, DataError, TrainingDiverged
from aeviz.training.loop import seeded_model, train

REPO = Path(__file__).resolve().parents[2]
CFG = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


# --------------------------------------------------------------------------- divergence

def nan_after(model, good_steps: int):
    """Make ``model`` return a NaN loss from step ``good_steps + 1`` on (a diverging run)."""
    real = model.forward
    calls = [0]

    def forward(x, generator=None, kl_weight=1.0):
        out = real(x, generator=generator, kl_weight=kl_weight)
        if model.training:
            calls[0] += 1
            if calls[0] > good_steps:
                return dataclasses.replace(out, loss=out.loss * float("nan"))
        return out
    model.forward = forward
    return model


def test_diverging_run_stops_and_keeps_last_good_weights(tiny_images):
    # 64 images / batch 16 = 4 steps per epoch; NaN in the middle of epoch 3
    model = nan_after(seeded_model(CFG, 0), good_steps=10)
    snapshots = []
    with pytest.raises(TrainingDiverged) as err:
        train(CFG, TrainConfig(epochs=5, batch_size=16, lr=1e-3), tiny_images, device="cpu",
              model=model, on_epoch=lambda e, row: snapshots.append(copy.deepcopy(model.state_dict())))
    e = err.value
    assert isinstance(e, AevizError) and (e.epoch, e.step) == (2, 10)
    assert "learning rate" in str(e) and "gradient clip" in str(e)      # says what to change
    assert len(e.history) == 2 and len(snapshots) == 2
    kept = e.model.state_dict()
    assert all(torch.equal(kept[k], snapshots[-1][k]) for k in kept)   # epoch 2's weights
    assert all(torch.isfinite(v).all() for v in kept.values()) and not e.model.training


def test_diverging_job_can_save_last_good_weights(tmp_path, tiny_images, monkeypatch):
    from aeviz.training import jobs as tj
    monkeypatch.setattr(tj, "train", lambda *a, **kw: train(*a, **{**kw, "model": nan_after(
        seeded_model(CFG, 1), good_steps=6)}))
    spec = tj.JobSpec(CFG, TrainConfig(epochs=4, batch_size=16, seed=1), "digits", "div", tmp_path)
    job = tj.TrainingJob(spec, tiny_images).start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "diverged" and snap.can_save_last_good and len(snap.history) == 1
    assert "learning rate" in snap.message and not (tmp_path / "div").exists()
    path = job.save_last_good()
    ckpt = load_checkpoint(path)
    assert len(ckpt.history) == 1 and all(torch.isfinite(v).all()
                                          for v in ckpt.model.state_dict().values())


def test_cli_divergence_is_one_clear_error_and_saves_nothing(tmp_path, monkeypatch, capsys):
    from aeviz.cli import main as cli
    from aeviz.training import loop as train_mod
    real = train_mod.seeded_model
    monkeypatch.setattr(train_mod, "seeded_model", lambda c, s: nan_after(real(c, s), good_steps=3))
    code = cli.main(["train", "--family", "ae", "--hidden", "16", "--epochs", "3", "--no-progress",
                     "--out", str(tmp_path / "m")])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: training diverged") and "learning rate" in last
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- downloads

def idx_gz(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(head + array.astype(np.uint8).tobytes(), mtime=0)


def tiny_mnist() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (30, 28, 28)), rng.integers(0, 10, 30),
              rng.integers(0, 256, (10, 28, 28)), rng.integers(0, 10, 10)]
    return {name: idx_gz(a) for name, a in zip(data_mod.loaders.IDX_FILES, arrays)}


class Handler(BaseHTTPRequestHandler):
    """Serves server.files with Range support; logs (path, Range)."""

    def do_GET(self):
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        self.server.log.append((self.path, self.headers.get("Range")))
        if body is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


def serve(files: dict[str, bytes]) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.log = files, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True).start()
    return srv


# A server process that sends half of a body, then dies (SIGKILL to itself).
DYING_SERVER = textwrap.dedent("""
    import os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    body = open(sys.argv[1], "rb").read()
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    srv = HTTPServer(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
""")


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_server_dying_mid_body_leaves_no_good_looking_file_then_resumes(tmp_path, monkeypatch,
                                                                       no_proxy):
    monkeypatch.delenv("AEVIZ_DATA_DIR", raising=False)          # CI's real MNIST must not be found
    # a private cache: the tiny fake MNIST downloaded here must not be found by later tests
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    data_mod.clear_cache()
    files = tiny_mnist()
    first = data_mod.loaders.IDX_FILES[0]
    (tmp_path / "body").write_bytes(files[first])
    dying = subprocess.Popen([sys.executable, "-c", DYING_SERVER, str(tmp_path / "body")],
                             stdout=subprocess.PIPE, text=True)
    try:
        port = int(dying.stdout.readline())
        spec = dataclasses.replace(data_mod.DATASETS["mnist"], mirrors=(f"http://127.0.0.1:{port}/",),
                                   md5=tuple(hashlib.md5(files[f]).hexdigest()
                                             for f in data_mod.loaders.IDX_FILES))
        monkeypatch.setitem(data_mod.DATASETS, "mnist", spec)
        with pytest.raises(DataError, match="connection|closed|lost") as err:
            data_mod.load_dataset("mnist")
        assert "resumed next time" in str(err.value)
    finally:
        dying.wait(10)
    assert dying.returncode == -signal.SIGKILL                   # it really died mid-body
    folder = Path(os.environ["AEVIZ_CACHE_DIR"]) / "data" / "mnist"
    part = folder / (first + ".part")
    kept = part.stat().st_size
    assert not (folder / first).exists() and 0 < kept < len(files[first])
    assert data_mod.find_files("mnist") is None                  # the partial is not "available"
    srv = serve(files)
    try:
        monkeypatch.setitem(data_mod.DATASETS, "mnist", dataclasses.replace(spec, mirrors=(srv.url,)))
        ds = data_mod.load_dataset("mnist")
    finally:
        srv.shutdown()
        srv.server_close()
    assert (f"/{first}", f"bytes={kept}-") in srv.log             # resumed, not restarted
    assert ds.x_train.shape == (30, 1, 28, 28) and not part.exists()
    assert all(hashlib.md5((folder / f).read_bytes()).hexdigest() == m
               for f, m in zip(spec.files, spec.md5))
    data_mod.clear_cache()                                       # nor the in-process copy


# A downloader process that is SIGKILLed mid-transfer (aeviz itself crashing).
KILLED_CLIENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from aeviz.data.download import download
    download([sys.argv[1]], Path(sys.argv[2]), sys.argv[3],
             progress=lambda done, total: print(done, flush=True))
""")


class SlowHandler(Handler):
    def do_GET(self):
        body = self.server.files["f.bin"]
        self.server.log.append((self.path, self.headers.get("Range")))
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        for i in range(start, len(body), 1 << 16):
            self.wfile.write(body[i:i + (1 << 16)])
            self.wfile.flush()
            time.sleep(self.server.delay)


def test_client_killed_mid_download_then_next_run_verifies(tmp_path, no_proxy):
    body = np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()   # 16 chunks
    md5 = hashlib.md5(body).hexdigest()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    srv.files, srv.log, srv.delay = {"f.bin": body}, [], 0.2
    threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/f.bin"
    dest = tmp_path / "f.bin"
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        client = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, url, str(dest), md5],
                                  stdout=subprocess.PIPE, text=True, env=env)
        while int(client.stdout.readline() or len(body)) < 3 * (1 << 16):
            pass
        client.send_signal(signal.SIGKILL)
        client.wait(10)
        part = dest.with_name("f.bin.part")
        assert not dest.exists() and part.exists() and part.stat().st_size < len(body)
        srv.delay = 0
        assert download([url], dest, md5) == dest
        assert dest.read_bytes() == body and not part.exists()
        assert srv.log[-1][1] is not None                        # the second run resumed
    finally:
        srv.shutdown()
        srv.server_close()


def test_complete_looking_but_corrupt_file_is_refused(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"x" * 1000)                    # e.g. copied in by hand, or a non-atomic tool
    with pytest.raises(DataError, match="truncated/corrupt.*delete it"):
        download(["http://127.0.0.1:9/never"], dest, hashlib.md5(b"y").hexdigest())


# --------------------------------------------------------------------------- full disk

def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["weights", "json", "mkdtemp"])
def test_full_disk_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch, where):
    path = save_checkpoint(tmp_path / "m", seeded_model(CFG, 0), metrics={"a": 1.0})
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    target = {"weights": "save_tensors", "json": "_write_json", "mkdtemp": "tempfile.mkdtemp"}[where]
    if "." in target:
        monkeypatch.setattr(ckpt_mod.tempfile, "mkdtemp", enospc)
    else:
        monkeypatch.setattr(ckpt_mod, target, enospc)
    with pytest.raises(CheckpointError, match="No space left.*disk may be full"):
        save_checkpoint(path, seeded_model(CFG, 1))
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]           # no temp folder left
    monkeypatch.undo()
    assert load_checkpoint(path).metrics == {"a": 1.0}


def test_full_disk_in_json_update_keeps_old_file(tmp_path, monkeypatch):
    f = tmp_path / "metrics.json"
    write_json_atomic(f, {"a": 1})
    monkeypatch.setattr(os, "fsync", enospc)
    with pytest.raises(CheckpointError, match="disk may be full"):
        write_json_atomic(f, {"a": 2})
    assert f.read_text().strip().startswith("{") and '"a": 1' in f.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_real_enospc_during_download_is_a_clear_error(tmp_path, no_proxy):
    """/dev/full answers every write with ENOSPC: a real full disk, no mounts needed."""
    body = os.urandom(200_000)
    srv = serve({"f.bin": body})
    dest = tmp_path / "f.bin"
    os.symlink("/dev/full", tmp_path / "f.bin.part")
    try:
        with pytest.raises(DataError, match="disk full or not writable"):
            download([srv.url + "f.bin"], dest, hashlib.md5(body).hexdigest())
    finally:
        srv.shutdown()
        srv.server_close()
    assert not dest.exists()


def test_nan_metric_never_blocks_a_save(tmp_path):
    path = save_checkpoint(tmp_path / "m", seeded_model(CFG, 0), metrics={"knn": float("nan")},
                           history=[{"epoch": 1, "test_loss": float("inf")}])
    ckpt = load_checkpoint(path)
    assert ckpt.metrics == {"knn": None} and ckpt.history == [{"epoch": 1, "test_loss": None}]


def test_training_job_on_full_disk_fails_clearly_and_server_goes_on(tmp_path, tiny_images,
                                                                    monkeypatch):
    from aeviz.training import jobs as tj
    spec = tj.JobSpec(CFG, TrainConfig(epochs=1, batch_size=16), "digits", "full", tmp_path)
    monkeypatch.setattr(ckpt_mod, "save_tensors", enospc)
    job = tj.TrainingJob(spec, tiny_images).start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "failed" and "disk may be full" in snap.message
    assert not (tmp_path / "full").exists() and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    again = tj.TrainingJob(spec, tiny_images).start()          # the slot was released
    assert again.join(60) and again.snapshot().state == "done"


# --------------------------------------------------------------------------- unwritable cache

@pytest.fixture
def unwritable_cache(tmp_path, monkeypatch):
    """A cache folder that cannot be created. Tests run as root, where chmod 0o500 does not stop
    writes, so the cache sits under a regular file instead (mkdir fails with ENOTDIR)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("AEVIZ_MODELS_DIR", str(blocker / "models"))
    monkeypatch.delenv("AEVIZ_DATA_DIR", raising=False)
    return blocker


def test_unwritable_cache_download_gives_clear_message(unwritable_cache, monkeypatch):
    spec = dataclasses.replace(data_mod.DATASETS["mnist"], mirrors=("http://127.0.0.1:9/",))
    monkeypatch.setitem(data_mod.DATASETS, "mnist", spec)
    with pytest.raises(DataError, match="cannot write to .*AEVIZ_CACHE_DIR"):
        data_mod.load_dataset("mnist")
    assert data_mod.load_dataset("digits").x_train.shape[1:] == (1, 8, 8)   # what it has still works


def test_cli_still_runs_with_unwritable_cache(unwritable_cache, tmp_path, capsys):
    from aeviz.cli import main as cli
    assert cli.main(["datasets", "--json"]) == 0
    assert '"digits"' in capsys.readouterr().out
    out = tmp_path / "ok"
    assert cli.main(["train", "--family", "pca", "--no-progress", "--out", str(out)]) == 0
    assert load_checkpoint(out).config.family == "pca"


def test_training_job_with_unwritable_models_dir_fails_clearly(unwritable_cache, tiny_images):
    from aeviz.core.paths import user_models_dir
    from aeviz.training import jobs as tj
    spec = tj.JobSpec(CFG, TrainConfig(epochs=1, batch_size=16), "digits", "m", user_models_dir())
    job = tj.TrainingJob(spec, tiny_images).start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "failed" and "cannot write the checkpoint" in snap.message
