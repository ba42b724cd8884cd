import stat
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aeviz.data.archive import iter_members, safe_extract
from aeviz.core.errors import DataError
from conftest import zip_bytes


make_zip = zip_bytes


def info(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    zi.external_attr = mode << 16
    return zi


GOOD = make_zip([("a.txt", b"hello"), ("dir/", b""), ("./dir/b.bin", bytes(range(256))),
                 ("win\\c.txt", b"c")])


def test_iter_members_yields_files_with_normalised_names():
    assert list(iter_members(GOOD)) == [("a.txt", b"hello"), ("dir/b.bin", bytes(range(256))),
                                        ("win/c.txt", b"c")]


def test_iter_members_accepts_a_path(tmp_path):
    path = tmp_path / "g.zip"
    path.write_bytes(GOOD)
    assert [n for n, _ in iter_members(path)] == ["a.txt", "dir/b.bin", "win/c.txt"]


@pytest.mark.parametrize("name, message", [
    ("../evil.txt", "'..'"),
    ("ok/../../evil.txt", "'..'"),
    ("..\\evil.txt", "'..'"),
    ("/etc/passwd", "absolute path"),
    ("\\windows\\x", "absolute path"),
    ("C:/Windows/x", "absolute path"),
    ("c:evil", "absolute path"),
])
def test_path_traversal_refused(name, message):
    with pytest.raises(DataError, match=message):
        list(iter_members(make_zip([("fine.txt", b"x"), (name, b"bad")])))


def test_symlink_refused():
    data = make_zip([(info("link", mode=stat.S_IFLNK | 0o777), b"/etc/passwd")])
    with pytest.raises(DataError, match="symbolic link"):
        list(iter_members(data))


def test_encrypted_member_refused():
    data = bytearray(make_zip([("secret.txt", b"x")]))
    cd = data.rfind(b"PK\x01\x02")     # zipfile clears flag bits on write: set bit 0 by hand
    data[cd + 8] |= 0x1
    data[6] |= 0x1                       # local header flags
    with pytest.raises(DataError, match="encrypted"):
        list(iter_members(bytes(data)))


@pytest.mark.parametrize("names", [("a.txt", "a.txt"), ("A.txt", "a.txt"), ("d/x", "d//x")])
def test_duplicate_names_refused(names):
    with pytest.raises(DataError, match="twice"):
        list(iter_members(make_zip([(n, b"x") for n in names])))


def test_too_many_files_refused():
    data = make_zip([(f"{i}.txt", b"x") for i in range(4)])
    with pytest.raises(DataError, match="4 files; the limit is 3"):
        list(iter_members(data, max_files=3))


def test_total_size_limit_from_headers():
    data = make_zip([("a", b"x" * 600), ("b", b"y" * 600)])
    with pytest.raises(DataError, match="1,200 bytes; the limit is 1,000"):
        list(iter_members(data, max_total_bytes=1_000))


def test_zip_bomb_refused():
    data = make_zip([("bomb.bin", bytes(8 * 2**20))])       # 8 MiB of zeros -> ~8 kB
    assert len(data) < 20_000
    with pytest.raises(DataError, match="inflates more than 200x"):
        list(iter_members(data))


def test_lying_header_does_not_bypass_limits():
    data = bytearray(make_zip([("a.bin", bytes(range(256)) * 40)]))
    # shrink the declared uncompressed size in the central directory (offset 24 of the entry)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    with pytest.raises(DataError, match="corrupt"):
        list(iter_members(bytes(data)))


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_not_a_zip(data):
    with pytest.raises(DataError, match="not a readable zip"):
        list(iter_members(data))


def test_safe_extract_writes_inside_dest(tmp_path):
    dest = tmp_path / "out"
    paths = safe_extract(GOOD, dest)
    assert paths == [dest / "a.txt", dest / "dir" / "b.bin", dest / "win" / "c.txt"]
    assert (dest / "dir" / "b.bin").read_bytes() == bytes(range(256))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_refused_archive_leaves_nothing_behind(tmp_path):
    data = make_zip([("fine.txt", b"x"), ("../../evil.txt", b"bad")])
    with pytest.raises(DataError):
        safe_extract(data, tmp_path / "out")
    data = make_zip([("fine.txt", b"x"), ("bomb.bin", bytes(8 * 2**20))])
    with pytest.raises(DataError, match="zip bomb"):
        safe_extract(data, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_safe_extract_refuses_non_empty_dest(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        safe_extract(GOOD, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_data_error(blob):
    for data in (blob, b"PK\x03\x04" + blob):
        try:
            members = list(iter_members(data, max_total_bytes=100_000))
        except DataError:
            continue
        assert all(isinstance(n, str) and isinstance(b, bytes) for n, b in members)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_zip_only_raises_data_error(flips):
    data = bytearray(GOOD)
    for pos, value in flips:
        data[pos % len(data)] = value
    try:
        list(iter_members(bytes(data), max_total_bytes=100_000))
    except DataError:
        pass
