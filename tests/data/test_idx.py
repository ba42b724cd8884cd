import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aeviz.core.errors import DataError
from aeviz.data.idx import read_idx


def idx_bytes(arr: np.ndarray, code: int = 0x08, dims: tuple | None = None) -> bytes:
    dims = arr.shape if dims is None else dims
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + arr.tobytes()


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_bytes_and_path(tmp_path, images, compress):
    data = idx_bytes(images)
    data = gzip.compress(data) if compress else data
    path = tmp_path / "x.idx"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        out = read_idx(source, expect_ndim=3)
        assert out.dtype == np.uint8 and out.shape == (5, 4, 3)
        np.testing.assert_array_equal(out, images)


def test_labels_1d():
    labels = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(idx_bytes(labels), expect_ndim=1), labels)


def test_wrong_ndim_refused(images):
    with pytest.raises(DataError, match="3 dimensions, expected 1"):
        read_idx(idx_bytes(images), expect_ndim=1)


@pytest.mark.parametrize("head, message", [
    (b"\x01\x00\x08\x01", "bad magic"),
    (b"PK\x03\x04", "bad magic"),
    (b"\x00\x00\x0d\x01", "float32 is not supported"),
    (b"\x00\x00\x42\x01", "unknown 0x42"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x09", "9 dimensions"),
])
def test_bad_magic_refused(head, message):
    with pytest.raises(DataError, match=message):
        read_idx(head + b"\x00\x00\x00\x01\x07")


def test_empty_input_refused():
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(b"")


def test_lying_dims_report_truncation(images):
    data = idx_bytes(images, dims=(6, 4, 3))       # claims one more image than it holds
    with pytest.raises(DataError, match="truncated/corrupt: expected 72 bytes of data, got 60"):
        read_idx(data)


def test_truncated_payload_refused(images):
    data = idx_bytes(images)[:-7]
    with pytest.raises(DataError, match="expected 60 bytes of data, got 53; delete the file"):
        read_idx(gzip.compress(data))


def test_truncated_header_refused():
    with pytest.raises(DataError, match="header ends inside the dimensions"):
        read_idx(b"\x00\x00\x08\x03\x00\x00\x00\x05")


def test_trailing_bytes_refused(images):
    with pytest.raises(DataError, match="got 63 \\(trailing bytes\\)"):
        read_idx(idx_bytes(images) + b"abc")


def test_truncated_gzip_refused(images):
    gz = gzip.compress(idx_bytes(images))
    with pytest.raises(DataError, match="truncated/corrupt"):
        read_idx(gz[:-12])


def test_corrupt_gzip_refused(images):
    gz = bytearray(gzip.compress(idx_bytes(images)))
    gz[12:20] = b"\xff" * 8           # garbage inside the deflate stream
    with pytest.raises(DataError, match="corrupt"):
        read_idx(bytes(gz))


def test_huge_dims_refused_before_allocating():
    head = bytes([0, 0, 8, 3]) + struct.pack(">3I", 4_000_000, 28, 28)
    with pytest.raises(DataError, match="claims 4,000,000 items; the limit is 1,000"):
        read_idx(head, max_items=1000)
    head = bytes([0, 0, 8, 2]) + struct.pack(">2I", 60000, 2**31)   # 2**31 * 60000 bytes
    with pytest.raises(DataError, match="bytes of data .* the limit"):
        read_idx(head)


def test_zero_dimension_refused():
    with pytest.raises(DataError, match="contain 0"):
        read_idx(bytes([0, 0, 8, 2]) + struct.pack(">2I", 0, 28))


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(DataError, match="cannot open"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(DataError, match="path or bytes"):
        read_idx(12345)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_data_error(blob):
    for data in (blob, b"\x00\x00\x08" + blob, gzip.compress(blob)):
        try:
            out = read_idx(data, max_items=1000, max_bytes=10_000)
        except DataError:
            continue
        assert out.dtype == np.uint8 and out.size <= 10_000


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 80), st.integers(0, 255))
def test_mutated_gzip_only_raises_data_error(pos, value):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz = bytearray(gzip.compress(idx_bytes(arr)))
    gz[pos % len(gz)] = value
    try:
        out = read_idx(bytes(gz))
    except DataError:
        return
    assert out.dtype == np.uint8
