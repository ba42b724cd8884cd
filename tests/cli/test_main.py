"""The exact CLI forms of the README, run as a user would (subprocesses)."""
import json
import subprocess
import sys

import pytest

from aeviz.models.checkpoint import load_checkpoint
from aeviz.cli.main import COMMANDS, build_parser


def aeviz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "aeviz", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_help_lists_every_command():
    text = build_parser().format_help()
    assert all(name in text for name in COMMANDS)
    for name in COMMANDS:
        sub = build_parser().parse_args([name, *_minimal(name)])
        assert sub.command == name


def _minimal(name):
    return {"eval": ["dir"], "project": ["dir"], "compare": ["a", "--dataset", "digits"],
            "zoo": ["list"], "train": ["--out", "x"]}.get(name, [])


def test_datasets_lists_builtin_as_available():
    proc = aeviz("datasets", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["digits"]["available"] is True
    assert {"mnist", "fashion-mnist", "frey-faces"} <= set(rows)


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_train_then_eval_on_digits(tmp_path, family):
    out = tmp_path / family
    proc = aeviz("train", "--dataset", "digits", "--family", family, "--latent-dim", "2", "--epochs", "30",
                 "--seed", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    ckpt = load_checkpoint(out)
    assert ckpt.config.family == family and ckpt.dataset_name == "digits"
    assert ckpt.command.startswith("python -m aeviz train --dataset digits")
    assert len(ckpt.history) == 30 and ckpt.history[-1]["test_loss"] < ckpt.history[0]["test_loss"]
    proc = aeviz("eval", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert 0 < metrics["mse_per_pixel"] < 0.2
    assert metrics["sse_per_image"] == pytest.approx(metrics["mse_per_pixel"] * 64, rel=1e-4)
    if family == "vae":
        assert metrics["neg_elbo"] > metrics["kl"] > 0


def test_train_records_schedule_and_augmentation(tmp_path):
    out = tmp_path / "aug"
    proc = aeviz("train", "--dataset", "digits", "--family", "ae", "--epochs", "3", "--lr-schedule", "cosine",
                 "--augment", "elastic", "--augment-strength", "0.5", "--weight-decay", "1e-5",
                 "--no-progress", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    t = load_checkpoint(out).train_config
    assert (t.lr_schedule, t.augment, t.augment_strength, t.weight_decay) == ("cosine", "elastic", 0.5, 1e-5)
    assert "--augment elastic" in load_checkpoint(out).command


def test_train_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "m"
    args = ("train", "--family", "pca", "--latent-dim", "4", "--out", str(out))
    assert aeviz(*args).returncode == 0
    before = (out / "model.safetensors").read_bytes()
    proc = aeviz(*args[:-2], "--latent-dim", "5", "--out", str(out))
    assert proc.returncode == 2 and "--force" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "model.safetensors").read_bytes() == before
    (tmp_path / "file.txt").write_text("mine")
    proc = aeviz("train", "--family", "pca", "--out", str(tmp_path / "file.txt"))
    assert proc.returncode == 2 and "not an aeviz checkpoint" in proc.stderr
    assert (tmp_path / "file.txt").read_text() == "mine"


@pytest.mark.parametrize("args, message", [
    (["train", "--latent-dim", "0", "--out", "{tmp}/x"], "latent_dim"),
    (["train", "--hidden", "abc", "--out", "{tmp}/x"], "comma-separated integers"),
    (["train", "--dataset", "../../etc", "--out", "{tmp}/x"], "unknown dataset"),
    (["train", "--family", "gan", "--out", "{tmp}/x"], "invalid choice"),
    (["train", "--lr", "nan", "--out", "{tmp}/x"], "lr must be"),
    (["train", "--augment", "elastic", "--augment-strength", "9", "--out", "{tmp}/x"], "augment_strength"),
    (["train", "--augment", "swirl", "--out", "{tmp}/x"], "invalid choice"),
    (["train", "--dataset", "moons", "--augment", "affine", "--out", "{tmp}/x"], "use augment 'none'"),
    (["eval", "{tmp}/missing"], "no checkpoint at"),
])
def test_bad_flags_give_clear_errors(tmp_path, args, message):
    proc = aeviz(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_eval_refuses_pickle(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"\x80\x04K\x01.")
    proc = aeviz("eval", str(tmp_path / "model.pt"))
    assert proc.returncode == 2 and "never unpickles" in proc.stderr
