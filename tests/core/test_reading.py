"""core.reading: links out of the folder, special files, lying sizes, deep JSON and npz bombs are refused."""
import errno
import io
import os
import struct
import zipfile

import numpy as np
import pytest

from aeviz.core import reading
from aeviz.core.errors import CheckpointError, DataError

KB = 1024


def _read(path, root, max_bytes=KB, **kw):
    return reading.read_bytes(path, root=root, max_bytes=max_bytes, what="test file", **kw)


@pytest.mark.parametrize("target", ["/proc/self/mem", "/proc/self/pagemap"])
def test_link_to_a_proc_file_is_refused_with_a_sentence(tmp_path, target):
    os.symlink(target, tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="config.json is a link that leads outside") as err:
        _read(tmp_path / "config.json", tmp_path, error=CheckpointError)
    assert "\n" not in str(err.value)


def test_link_to_a_file_in_another_folder_is_refused_and_one_inside_is_read(tmp_path):
    (tmp_path / "outside.txt").write_bytes(b"secret")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "real.json").write_bytes(b"{}")
    os.symlink(tmp_path / "outside.txt", tmp_path / "ckpt" / "out.json")
    os.symlink("real.json", tmp_path / "ckpt" / "in.json")
    with pytest.raises(DataError, match="leads outside ckpt"):
        _read(tmp_path / "ckpt" / "out.json", tmp_path / "ckpt")
    assert _read(tmp_path / "ckpt" / "in.json", tmp_path / "ckpt") == b"{}"


def test_fifo_and_folder_are_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "history.json")             # opening it for reading would block forever
    (tmp_path / "metrics.json").mkdir()
    for name in ("history.json", "metrics.json"):
        with pytest.raises(DataError, match="not a regular file"):
            _read(tmp_path / name, tmp_path)


def test_size_is_counted_while_reading_never_taken_from_stat(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * KB)
    assert _read(f, tmp_path) == b"x" * KB                             # exactly the limit: read
    f.write_bytes(b"x" * (KB + 1))
    with pytest.raises(DataError, match="larger than 1,024 bytes"):
        _read(f, tmp_path)
    status = "/proc/self/status"                       # a regular file that stats as 0 bytes
    if not os.path.exists(status) or os.stat(status).st_size != 0:
        pytest.skip("no /proc")
    assert b"Name:" in _read(status, "/proc/self", max_bytes=2 ** 20)
    with pytest.raises(DataError, match="larger than 16 bytes"):
        _read(status, "/proc/self", max_bytes=16)


def test_missing_and_unreadable_files_are_one_sentence(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="nope.json does not exist"):
        _read(tmp_path / "nope.json", tmp_path)
    (tmp_path / "mem").write_bytes(b"{}")

    def eio(fd, n):                                    # what reading /proc/self/mem at offset 0 gives
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    monkeypatch.setattr(reading, "_read_at_most", eio)
    with pytest.raises(DataError, match=r"cannot read test file mem \(Input/output error\)"):
        _read(tmp_path / "mem", tmp_path)


@pytest.mark.parametrize("raw, kind, message", [
    (b"[" * 100_000 + b"]" * 100_000, None, "not valid JSON"),        # RecursionError inside json
    (b'{"a": ' + b"9" * 5000 + b"}", None, "not valid JSON"),          # int of > 4300 digits
    (b'{"a": "\xff\xfe"}', None, "not valid JSON"),
    (b"[1, 2]", dict, "holds list where a JSON object is expected"),
    (b"3", dict, "holds int where a JSON object is expected"),
    (b"{}", list, "holds dict where a JSON list is expected"),
])
def test_bad_json_is_refused_with_a_message(tmp_path, raw, kind, message):
    f = tmp_path / "meta.json"
    f.write_bytes(raw)
    with pytest.raises(CheckpointError, match=message):
        reading.read_json(f, root=tmp_path, max_bytes=2 ** 20, what="meta", kind=kind, error=CheckpointError)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _read_npz(f, root, **kw):
    args = dict(root=root, max_bytes=2 ** 20, max_inflated_bytes=4 * 2 ** 20, names=("a", "b"),
                what="map file")
    return reading.read_npz(f, **{**args, **kw})


def test_npz_round_trip_and_unexpected_members(tmp_path):
    f = tmp_path / "m.npz"
    f.write_bytes(_npz(a=np.arange(3), b=np.ones((2, 2))))
    out = _read_npz(f, tmp_path)
    assert out["a"].tolist() == [0, 1, 2] and out["b"].shape == (2, 2)
    f.write_bytes(_npz(a=np.arange(3), evil=np.arange(2)))
    with pytest.raises(DataError, match="unexpected or repeated members"):
        _read_npz(f, tmp_path)
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("a.npy", b"not npy")
        z.writestr("b.txt", b"x")
    with pytest.raises(DataError, match="b.txt"):
        _read_npz(f, tmp_path)


def test_npz_inflating_past_the_limit_is_refused_from_the_directory(tmp_path):
    f = tmp_path / "bomb.npz"
    f.write_bytes(_npz(a=np.zeros((1200, 1200))))           # 11.5 MB of zeros in ~11 KB
    assert f.stat().st_size < 64 * KB
    with pytest.raises(DataError, match="inflates to 11,520,128 bytes, more than 4 MB"):
        _read_npz(f, tmp_path)


def test_npz_whose_directory_lies_about_a_size_is_refused(tmp_path):
    raw = bytearray(_npz(a=np.zeros(4)))
    cd = raw.rfind(b"PK\x01\x02")
    struct.pack_into("<I", raw, cd + 24, 3_200_000_000)       # declared uncompressed size: 3.2 GB
    (tmp_path / "m.npz").write_bytes(bytes(raw))
    with pytest.raises(DataError, match="inflates to 3,200,000,000 bytes"):
        _read_npz(tmp_path / "m.npz", tmp_path)


def test_npy_header_claiming_more_than_its_member_holds_is_refused(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (100_000, 100_000)})   # 80 GB claimed
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as z:
        z.writestr("a.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(DataError, match="does not hold"):
        _read_npz(tmp_path / "m.npz", tmp_path)


@pytest.mark.parametrize("raw", [b"", b"PK\x03\x04 truncated", b"\0" * 100, _npz(a=np.arange(3))[:-30]])
def test_corrupt_npz_is_the_callers_error(tmp_path, raw):
    (tmp_path / "m.npz").write_bytes(raw)
    with pytest.raises(CheckpointError, match="m.npz"):
        _read_npz(tmp_path / "m.npz", tmp_path, error=CheckpointError)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    (tmp_path / "m.npz").write_bytes(_npz(a=np.array([{"x": 1}], dtype=object)))
    with pytest.raises(DataError, match="Python objects"):
        _read_npz(tmp_path / "m.npz", tmp_path)
