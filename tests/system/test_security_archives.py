"""Attacks through zip uploads: traversal, absolute paths, links, bombs, too many files.

Each hostile archive goes through every entry point that opens zips
(``safe_extract``, image uploads via ``load_user_data``, checkpoint uploads via
``aeviz.ui.sources.add_upload``) and must be refused with a DataError while the
folder around the target stays byte-for-byte unchanged.
"""
import io
import json
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from aeviz.data.archive import iter_members, safe_extract
from aeviz.core.errors import AevizError, DataError
from aeviz.data.uploads import load_user_data
from conftest import zip_bytes

REPO = Path(__file__).resolve().parents[2]


make_zip = zip_bytes


def link(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    zi = zipfile.ZipInfo(name)
    zi.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zi, target.encode()


def png_bytes() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, "PNG")
    return buf.getvalue()


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


PNG = png_bytes()
HOSTILE = {
    "dotdot": [("ok.png", PNG), ("../victim.txt", b"overwritten")],
    "deep-dotdot": [("a/b/../../../victim.txt", b"overwritten")],
    "backslash-dotdot": [("..\\victim.txt", b"overwritten")],
    "absolute": [("/tmp/aeviz-absolute-escape.txt", b"x")],
    "drive": [("C:\\victim.txt", b"x")],
    "unc": [("\\\\server\\share\\x.png", PNG)],
    "symlink": [link("ln", "/etc"), ("ln/passwd", b"x")],
    "symlink-file": [link("victim.png", "../victim.txt")],
    "duplicate": [("x.png", PNG), ("X.PNG", PNG)],
    "file-over-dir": [("a/b.png", PNG), ("a", b"x")],
    "too-long-name": [("n" * 5000 + ".png", PNG)],
}


NAME_LEVEL = set(HOSTILE) - {"file-over-dir", "too-long-name"}   # refused by iter_members


@pytest.fixture
def arena(tmp_path):
    """A parent folder with a victim file; extraction targets arena/box/out."""
    (tmp_path / "victim.txt").write_text("original")
    (tmp_path / "box").mkdir()
    return tmp_path


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_zip_refused_and_nothing_written(arena, case):
    data = make_zip(HOSTILE[case])
    before = snapshot(arena)
    with pytest.raises(DataError) as err:
        safe_extract(data, arena / "box" / "out")
    assert str(err.value) and "Traceback" not in str(err.value)
    assert snapshot(arena) == before                     # no partial folder, nothing outside
    assert not Path("/tmp/aeviz-absolute-escape.txt").exists()
    # the same archive as an image upload (two good images, so only the names can fail it)
    upload = make_zip(HOSTILE[case] + [("good1.png", PNG), ("good2.png", PNG)])
    if case in NAME_LEVEL:
        with pytest.raises(DataError, match="zip member|twice|link"):
            load_user_data(upload, "upload.zip")
    else:                                                # extraction-level: never extracted
        try:
            load_user_data(upload, "upload.zip")
        except DataError:
            pass
    assert snapshot(arena) == before


def test_nul_byte_names_are_cut_not_followed(arena):
    name = b"safe.txtX/../../victim.txt"
    data = make_zip([(name.decode(), b"overwritten")]).replace(name, name.replace(b"X", b"\0"))
    out = safe_extract(data, arena / "box" / "out")
    assert out == [arena / "box" / "out" / "safe.txt"]
    assert (arena / "victim.txt").read_text() == "original"
    evil = b"../victimXsafe.txt"
    data = make_zip([(evil.decode(), b"x")]).replace(evil, evil.replace(b"X", b"\0"))
    with pytest.raises(DataError, match=r"\.\."):
        safe_extract(data, arena / "box" / "out2")


def test_entry_pointing_at_anothers_data_is_refused(arena):
    """Overlapping entries (the non-recursive zip bomb trick) fail zipfile's name check."""
    data = bytearray(make_zip([("a.bin", bytes(4096)), ("b.bin", b"small")]))
    cds = [i for i in range(len(data)) if data[i:i + 4] == b"PK\x01\x02"]
    second = cds[1]
    data[second + 42:second + 46] = (0).to_bytes(4, "little")   # b.bin's offset -> a.bin's data
    with pytest.raises(DataError):
        list(iter_members(bytes(data)))


def test_too_many_files_refused_before_reading(arena):
    data = make_zip([(f"f{i}.png", b"") for i in range(101)], zipfile.ZIP_STORED)
    with pytest.raises(DataError, match="101 files; the limit is 100"):
        safe_extract(data, arena / "box" / "out", max_files=100)
    with pytest.raises(DataError, match="limit"):
        load_user_data(data, "many.zip", max_items=50)     # images: max_items + 1000 files
    assert snapshot(arena / "box") == {}


def test_total_budget_counted_while_inflating_not_from_headers(arena):
    """Members that each inflate under the ratio still stop at the total budget."""
    chunk = bytes(range(256)) * 2048                      # 512 KiB, compresses ~100x
    data = bytearray(make_zip([(f"m{i}.bin", chunk) for i in range(8)]))
    # lie in every central-directory entry: claim 10 bytes uncompressed
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos + 1)) > 0:
        data[pos + 24:pos + 28] = (10).to_bytes(4, "little")
    with pytest.raises(DataError):
        safe_extract(bytes(data), arena / "box" / "out", max_total_bytes=3 * 2 ** 20)
    honest = make_zip([(f"m{i}.bin", chunk) for i in range(8)])
    with pytest.raises(DataError, match="more than 3,145,728 bytes|would unpack"):
        safe_extract(honest, arena / "box" / "out", max_total_bytes=3 * 2 ** 20)
    assert snapshot(arena / "box") == {}


def test_dest_must_be_new_or_empty(arena):
    out = arena / "box" / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        safe_extract(make_zip([("keep.txt", b"theirs")]), out)
    assert (out / "keep.txt").read_text() == "mine"


def test_checkpoint_upload_path_refuses_hostile_zips(arena, monkeypatch):
    """The app's checkpoint upload extracts into a per-session temp folder: nothing escapes it."""
    import tempfile

    import streamlit as st_

    from aeviz.ui import sources, state
    sessions = arena / "box"
    monkeypatch.setattr(tempfile, "tempdir", str(sessions))
    st_.session_state[state.UPLOADS] = {}
    st_.session_state.pop(state.SESSION_DIR, None)
    try:
        before = snapshot(arena)
        for case in sorted(HOSTILE):
            with pytest.raises(AevizError):
                sources.add_upload(make_zip(HOSTILE[case]), f"{case}.zip")
        after = snapshot(arena)
        assert {k: v for k, v in after.items() if not k.startswith("box")} == \
            {k: v for k, v in before.items() if not k.startswith("box")}
        # inside the session folder: only empty session dirs, no extracted hostile content
        assert all(v is None for k, v in after.items() if k.startswith("box"))
        assert not st_.session_state[state.UPLOADS]
    finally:
        st_.session_state.pop(state.SESSION_DIR, None)
        st_.session_state.pop(state.UPLOADS, None)


BOMB_PROBE = textwrap.dedent("""
    import io, json, resource, sys, zipfile
    import numpy as np
    from aeviz.core.errors import DataError
    from aeviz.data.uploads import load_user_data

    def zipped(name, data):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, data)
        return buf.getvalue()

    # 200 MiB of zeros -> ~200 kB deflated; the header is honest and under the 500 MiB
    # total, so only the ratio check (counted while inflating) can stop it
    zeros = bytes(200 << 20)
    cases = {"image-zip bomb": (zipped("bomb.png", zeros), "u.zip"),
             "npz bomb": (zipped("x.npy", zeros), "u.npz")}
    del zeros
    sizes = {k: len(v[0]) for k, v in cases.items()}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {}
    for name, (data, filename) in cases.items():
        try:
            load_user_data(data, filename)
            out[name] = "ACCEPTED"
        except DataError as e:
            out[name] = str(e)[:100]
        out[name + " MB"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps({"sizes": sizes, "results": out}))
""")


def test_zip_bombs_keep_memory_bounded(tmp_path):
    proc = subprocess.run([sys.executable, "-c", BOMB_PROBE], capture_output=True, text=True,
                          timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    res = report["results"]
    assert "ACCEPTED" not in res.values(), report
    assert all(size < 2 ** 20 for size in report["sizes"].values()), report
    # 200 MiB packed in < 1 MB: refused after inflating at most ~200x the packed size
    assert res["image-zip bomb MB"] < 150 and res["npz bomb MB"] < 150, report
