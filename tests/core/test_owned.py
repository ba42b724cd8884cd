"""What aeviz may replace (foreign entries) and one writer per target (writer_lock)."""
import os
import subprocess
import sys
import threading

import pytest

from aeviz.core import owned


def test_foreign_entries_names_what_is_not_claimed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "NOTES.md").write_text("mine")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.npz").write_bytes(b"")
    os.symlink("/etc/passwd", tmp_path / "link.json")
    os.mkfifo(tmp_path / "pipe.json")
    ours = {"config.json", "sub/x.npz", "link.json", "pipe.json"}.__contains__
    assert owned.foreign_entries(tmp_path, ours) == ["NOTES.md", "link.json", "pipe.json"]


def test_refuse_foreign_lists_them_and_changes_nothing(tmp_path):
    with pytest.raises(owned.NotOurs, match="'NOTES.md'.*nothing was changed"):
        owned.refuse_foreign(tmp_path, "a checkpoint", ["NOTES.md"], "Move it.")
    owned.refuse_foreign(tmp_path, "a checkpoint", [], "")          # nothing foreign: no error


def test_second_thread_is_refused_while_the_first_writes(tmp_path):
    target = tmp_path / "m"
    errors = []
    with owned.writer_lock(target):
        with owned.writer_lock(target):          # the holder may enter again (CLI, then save)
            pass
        t = threading.Thread(target=lambda: _try(target, errors))
        t.start()
        t.join()
        assert owned.lock_path(target).exists()
    assert len(errors) == 1 and isinstance(errors[0], owned.Busy)
    assert not owned.lock_path(target).exists()            # released and removed
    with owned.writer_lock(target):                          # and free again
        pass


def _try(target, errors):
    try:
        with owned.writer_lock(target):
            pass
    except owned.Busy as e:
        errors.append(e)


def test_another_process_is_refused(tmp_path):
    target = tmp_path / "m"
    code = ("import sys; from aeviz.core import owned\n"
            "try:\n    with owned.writer_lock(sys.argv[1]): print('got it')\n"
            "except owned.Busy as e: print('busy', e)\n")
    with owned.writer_lock(target):
        out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                             text=True, timeout=60).stdout
    assert out.startswith("busy") and "another aeviz process" in out
    out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.startswith("got it")
