"""Every sub-command against a table of hostile paths and values.

Each case must end with exit status 2 and exactly one ``error:`` line on stderr
(no traceback), and leave the folder it ran in byte-for-byte as it was. The
commands run in-process through ``main`` (argparse's own errors included), so
the table stays fast; one case per command also runs as a real subprocess.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aeviz.cli.main import COMMANDS
from aeviz.core import limits, owned
from conftest import run_main, tiny_checkpoint

LONG_NAME = "n" * (limits.PATH_COMPONENT_MAX_BYTES + 45)            # 300 bytes: over NAME_MAX


def hostile_paths(root: Path) -> dict[str, str]:
    """name -> a path no command may use (built inside ``root`` where it needs a place)."""
    deep = "/".join(["d" * 200] * (limits.PATH_MAX_BYTES // 200 + 2))  # over PATH_MAX
    return {"empty": "", "nul": f"{root}/a\x00b", "newline": f"{root}/a\nb", "escape": f"{root}/\x1b[31mx",
            "long-name": f"{root}/{LONG_NAME}", "long-path": f"{root}/{deep}",
            "proc": "/proc/self/aeviz-x", "proc-mem": "/proc/self/mem", "sys": "/sys/aeviz-x",
            "dev-null": "/dev/null", "under-a-file": f"{root}/user.txt/sub"}


# command -> argv with {P} where the hostile path goes; {CK} is a valid checkpoint
SLOTS = {
    "datasets --data-dir": ["datasets", "--data-dir", "{P}"],
    "train --out": ["train", "--family", "pca", "--latent-dim", "2", "--out", "{P}"],
    "train --data-dir": ["train", "--family", "pca", "--out", "{ROOT}/new", "--data-dir", "{P}"],
    "eval DIR": ["eval", "{P}"],
    "eval --data-dir": ["eval", "{CK}", "--data-dir", "{P}"],
    "project DIR": ["project", "{P}", "--method", "pca"],
    "project --out": ["project", "{CK}", "--method", "pca", "--out", "{P}"],
    "compare DIRS": ["compare", "{P}", "--quick"],
    "compare --out": ["compare", "{CK}", "--quick", "--no-pca", "--out", "{P}"],
    "zoo --root": ["zoo", "list", "--root", "{P}"],
    "zoo build --root": ["zoo", "build", "digits-ae-2", "--root", "{P}"],
}
# values: the argv to run (targets that exist and are the user's, bad seeds and numbers)
VALUES = {
    "train onto a user folder with a stray config.json": ["train", "--family", "pca", "--force", "--out", "{ROOT}/stray"],
    "train onto a checkpoint holding NOTES.md": ["train", "--family", "pca", "--force", "--out", "{ROOT}/noted"],
    "train onto a user file": ["train", "--family", "pca", "--force", "--out", "{ROOT}/user.txt"],
    "project onto a user file": ["project", "{CK}", "--method", "pca", "--out", "{ROOT}/user.txt"],
    "project onto a folder": ["project", "{CK}", "--method", "pca", "--out", "{ROOT}/stray"],
    "project onto a link": ["project", "{CK}", "--method", "pca", "--out", "{ROOT}/link.npz"],
    "compare onto a user markdown": ["compare", "{CK}", "--quick", "--no-pca", "--out", "{ROOT}/notes"],
    "compare onto a folder": ["compare", "{CK}", "--quick", "--no-pca", "--out", "{ROOT}/folder"],
    "zoo build onto a user folder": ["zoo", "build", "digits-ae-2", "--root", "{ROOT}/zoo"],
    "project --seed -1": ["project", "{CK}", "--method", "pca", "--seed", "-1"],
    "project --seed 2**40": ["project", "{CK}", "--method", "pca", "--seed", str(2 ** 40)],
    "eval --seed x": ["eval", "{CK}", "--seed", "x"],
    "train --seed -5": ["train", "--family", "pca", "--seed", "-5", "--out", "{ROOT}/new"],
    "compare --seed 1e3": ["compare", "{CK}", "--seed", "1e3"],
    "project --subsample 0": ["project", "{CK}", "--method", "pca", "--subsample", "0"],
    "zoo --threads 0": ["zoo", "list", "--threads", "0"],
    "eval --iwae-k 0": ["eval", "{CK}", "--iwae-k", "0"],
    "unknown flag": ["eval", "{CK}", "--no-such-flag"],
}


@pytest.fixture
def place(tmp_path):
    """A folder with a checkpoint and the user's own things that no command may touch."""
    ck = tiny_checkpoint(tmp_path / "ck")
    (tmp_path / "user.txt").write_text("the user's own file")
    (tmp_path / "notes.md").write_text("# my notes\n")
    (tmp_path / "stray").mkdir()
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "stray" / "config.json").write_text('{"mine": true}')
    (tmp_path / "stray" / "data.csv").write_text("1,2\n")
    tiny_checkpoint(tmp_path / "noted")
    (tmp_path / "noted" / "NOTES.md").write_text("what I tried")
    (tmp_path / "zoo" / "digits-ae-2").mkdir(parents=True)
    (tmp_path / "zoo" / "digits-ae-2" / "thesis.tex").write_text("\\section{mine}")
    os.symlink(tmp_path / "user.txt", tmp_path / "link.npz")
    return tmp_path, ck


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            p = Path(dirpath) / name
            st = os.lstat(p)
            body = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(root))] = (st.st_mode, body)
    return out


def fill(argv: list[str], root: Path, ck: Path, path: str = "") -> list[str]:
    return [a.replace("{P}", path).replace("{ROOT}", str(root)).replace("{CK}", str(ck)) for a in argv]


def assert_refused(code: int, err: str, case: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"{case}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{case}: traceback\n{err}"
    assert sum("error:" in line for line in lines) == 1 and lines[-1].startswith("error:"), \
        f"{case}: expected one error: line\n{err}"


def test_every_command_has_a_slot():
    assert {argv[0] for argv in SLOTS.values()} == set(COMMANDS)


@pytest.mark.parametrize("slot", list(SLOTS))
def test_hostile_paths_are_refused_everywhere(place, slot):
    root, ck = place
    before = snapshot(root)
    for name, path in hostile_paths(root).items():
        code, err = run_main(fill(SLOTS[slot], root, ck, path))
        assert_refused(code, err, f"{slot} <- {name}")
    assert snapshot(root) == before, f"{slot}: something was written"


@pytest.mark.parametrize("case", list(VALUES))
def test_hostile_targets_and_values_are_refused(place, case):
    root, ck = place
    before = snapshot(root)
    code, err = run_main(fill(VALUES[case], root, ck))
    assert_refused(code, err, case)
    assert snapshot(root) == before, f"{case}: something was written"


def test_user_files_are_named_in_the_refusal(place):
    root, ck = place
    code, err = run_main(fill(VALUES["train onto a checkpoint holding NOTES.md"], root, ck))
    assert code == 2 and "NOTES.md" in err and "nothing was changed" in err


@pytest.mark.parametrize("argv", [SLOTS["train --out"], SLOTS["project --out"], SLOTS["compare --out"]])
def test_as_a_real_process(place, argv):
    root, ck = place
    before = snapshot(root)
    proc = subprocess.run([sys.executable, "-m", "aeviz", *fill(argv, root, ck, f"{root}/{LONG_NAME}")],
                          capture_output=True, text=True, timeout=120)
    assert_refused(proc.returncode, proc.stderr, " ".join(argv[:2]))
    assert snapshot(root) == before


def test_two_writers_of_one_target_second_is_refused(place):
    """While one writer holds --out X (here: this process), `train --out X` is refused at once."""
    root, _ = place
    target = root / "busy"
    with owned.writer_lock(target, "the checkpoint"):
        proc = subprocess.run([sys.executable, "-m", "aeviz", "train", "--family", "pca", "--out",
                               str(target)], capture_output=True, text=True, timeout=120)
    assert_refused(proc.returncode, proc.stderr, "second writer")
    assert "another aeviz process" in proc.stderr and not target.exists()
    code, err = run_main(["train", "--family", "pca", "--latent-dim", "2", "--out", str(target)])
    assert code == 0 and (target / "config.json").is_file()        # free again once released


def test_a_replaceable_map_and_report_are_replaced(place):
    """The other side of the rule: aeviz's own outputs are replaced, as before."""
    root, ck = place
    for argv in (["project", str(ck), "--method", "pca", "--out", str(root / "m.npz")],
                 ["compare", str(ck), "--quick", "--no-pca", "--out", str(root / "r")]):
        assert run_main(argv)[0] == 0
        assert run_main(argv)[0] == 0, argv
    assert (root / "r.md").is_file() and (root / "r.json").is_file()


def test_an_interrupted_save_is_recovered_with_a_one_line_note(tmp_path):
    target = tiny_checkpoint(tmp_path / "m")
    weights = (target / "model.safetensors").read_bytes()
    os.replace(target, tmp_path / ".m.old-4242")           # killed between the two renames
    code, err = run_main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(target)])
    assert code == 2 and (target / "model.safetensors").read_bytes() == weights   # back, not replaced
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: recovered the checkpoint {target} from an interrupted save (.m.old-4242)"]
    assert "Recovered:" not in err and "already holds a checkpoint" in err
