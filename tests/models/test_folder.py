"""A save replaces only a folder aeviz provably wrote; interrupted saves are recovered, visibly."""
import os
import shutil
import threading
import warnings

import pytest

from aeviz.core import owned
from aeviz.core.errors import CheckpointError
from aeviz.models import folder
from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
from conftest import tiny_checkpoint


def _model(tmp_path):
    return load_checkpoint(tiny_checkpoint(tmp_path / "src")).model


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("make", ["stray-config", "notes-beside", "stray-map", "user-subfolder", "link"])
def test_save_refuses_a_folder_aeviz_did_not_write(tmp_path, make):
    model = _model(tmp_path)
    target = tmp_path / "m"
    if make == "stray-config":
        target.mkdir()
        (target / "config.json").write_text('{"learning_rate": 3}')
        (target / "results.csv").write_text("1,2")
    else:
        tiny_checkpoint(target)
        extra = {"notes-beside": "NOTES.md", "stray-map": "maps/mine.txt",
                 "user-subfolder": "drafts/a.txt", "link": None}[make]
        if extra:
            (target / extra).parent.mkdir(exist_ok=True)
            (target / extra).write_text("mine")
        else:
            os.symlink("/etc/hostname", target / "history.json.bak")
    before = _tree(target)
    with pytest.raises(owned.NotOurs, match="nothing was changed"):
        save_checkpoint(target, model)
    assert _tree(target) == before
    assert not list(tmp_path.glob(".m.*"))                 # no temporary folder left


def test_save_replaces_its_own_checkpoint_atomically(tmp_path):
    target = tiny_checkpoint(tmp_path / "m")
    old = (target / "model.safetensors").read_bytes()
    model = load_checkpoint(tiny_checkpoint(tmp_path / "other", seed=3)).model
    save_checkpoint(target, model)
    assert (target / "model.safetensors").read_bytes() != old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "other"]   # nothing hidden left


def test_a_killed_swap_is_recovered_visibly_and_never_written_over(tmp_path):
    target = tiny_checkpoint(tmp_path / "m")
    weights = (target / "model.safetensors").read_bytes()
    os.replace(target, tmp_path / ".m.old-4242")           # killed between the two renames
    with pytest.warns(folder.Recovered, match="interrupted save"):
        assert folder.recover(target)
    assert (target / "model.safetensors").read_bytes() == weights
    os.replace(target, tmp_path / ".m.old-4242")
    assert folder.recover_all(tmp_path) == ["m"]           # what the app's model list calls
    assert (target / "model.safetensors").read_bytes() == weights


def test_recovery_waits_for_a_save_that_is_between_its_renames(tmp_path):
    target = tiny_checkpoint(tmp_path / "m")
    os.replace(target, tmp_path / ".m.old-4242")           # a live save's first rename
    held, release = threading.Event(), threading.Event()

    def saving():
        with owned.writer_lock(target, "the checkpoint"):
            held.set()
            release.wait(10)

    t = threading.Thread(target=saving)
    t.start()
    held.wait(10)
    try:
        assert not folder.recover(target)                  # the writer's second rename is next
        assert not target.exists() and (tmp_path / ".m.old-4242").is_dir()
    finally:
        release.set()
        t.join()
    with pytest.warns(folder.Recovered):
        assert folder.recover(target)                      # the writer died: put it back


def test_recovery_moves_only_aeviz_checkpoints(tmp_path):
    (tmp_path / ".m.old-1").mkdir()
    (tmp_path / ".m.old-1" / "diary.txt").write_text("mine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not folder.recover(tmp_path / "m")
    assert (tmp_path / ".m.old-1" / "diary.txt").is_file() and not (tmp_path / "m").exists()


def test_stale_leftovers_of_killed_saves_are_removed_under_the_lock(tmp_path):
    target = tiny_checkpoint(tmp_path / "m")
    shutil.copytree(target, tmp_path / ".m.tmp-abc")       # a save killed before its swap
    (tmp_path / ".m.tmp-user").mkdir()
    (tmp_path / ".m.tmp-user" / "mine.txt").write_text("x")  # a look-alike of the user's: kept
    save_checkpoint(target, _model(tmp_path))
    assert not (tmp_path / ".m.tmp-abc").exists() and (tmp_path / ".m.tmp-user" / "mine.txt").exists()


def test_a_full_disk_while_writing_weights_is_a_clear_error(tmp_path, monkeypatch):
    target = tiny_checkpoint(tmp_path / "m")
    model = _model(tmp_path)
    before = _tree(target)
    real = type(target).write_bytes

    def full(self, data):
        if self.name == "model.safetensors":
            raise OSError(28, "No space left on device")
        return real(self, data)
    monkeypatch.setattr(type(target), "write_bytes", full)
    with pytest.raises(CheckpointError, match="disk may be full"):
        save_checkpoint(target, model)
    assert _tree(target) == before and sorted(p.name for p in tmp_path.iterdir()) == ["m", "src"]


def test_one_writer_per_checkpoint(tmp_path):
    target = tmp_path / "m"
    import threading
    errors = []

    def other():
        try:
            save_checkpoint(target, model)
        except owned.Busy as e:
            errors.append(e)
    model = _model(tmp_path)
    with owned.writer_lock(target):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert errors and not target.exists()


def test_extra_files_must_be_checkpoint_files(tmp_path):
    src = tmp_path / "x.npz"
    src.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a file of a checkpoint"):
        save_checkpoint(tmp_path / "m", _model(tmp_path), extra_files={"../escape.npz": src})
