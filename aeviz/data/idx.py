"""Reader for IDX files (MNIST's format), raw or gzip-compressed.

Layout: two zero bytes, a type code (0x08 = uint8, the only one MNIST uses), the
number of dimensions, then one big-endian uint32 per dimension, then the items
row-major. Every size is checked before anything is allocated, and the payload
must match the header exactly: a truncated download or trailing junk is refused.
"""
from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from aeviz.core import limits
from aeviz.core.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_UINT8 = 0x08
_TYPE_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32",
               0x0E: "float64"}
_CHUNK = 1 << 20
_DECODE_ERRORS = (OSError, EOFError, zlib.error)   # gzip.BadGzipFile is an OSError


def read_idx(source: str | Path | bytes, expect_ndim: int | None = None,
             max_items: int = limits.IDX_MAX_ITEMS, max_bytes: int = limits.IDX_MAX_BYTES) -> np.ndarray:
    """Parse an IDX file (path or bytes, gzip or raw) into a uint8 array.

    ``max_items`` bounds the first dimension (number of items), ``max_bytes`` the
    payload; both are checked on the header before allocating.
    """
    where = str(source) if isinstance(source, (str, Path)) else "IDX data"
    with _open_raw(source, where) as raw:
        try:
            f = _maybe_gunzip(raw)
            dims = _read_header(f, where, expect_ndim)
            return _read_payload(f, where, dims, max_items, max_bytes)
        except _DECODE_ERRORS as e:
            raise DataError(f"{where}: truncated/corrupt gzip stream ({e}); "
                            "delete the file so it is downloaded again") from None


def _open_raw(source: str | Path | bytes, where: str) -> BinaryIO:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if not isinstance(source, (str, Path)):
        raise DataError(f"read_idx expects a path or bytes, got {type(source).__name__}")
    try:
        return open(source, "rb")
    except OSError as e:
        raise DataError(f"{where}: cannot open ({e.strerror or e})") from None


def _maybe_gunzip(raw: BinaryIO) -> BinaryIO:
    head = raw.read(2)
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw, mode="rb") if head == _GZIP_MAGIC else raw


def _read_exact(f: BinaryIO, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _read_header(f: BinaryIO, where: str, expect_ndim: int | None) -> tuple[int, ...]:
    magic = _read_exact(f, 4)
    if len(magic) < 4 or magic[:2] != b"\0\0":
        raise DataError(f"{where}: not an IDX file (bad magic {magic.hex() or 'empty'}; "
                        "expected 0000 + type + ndim)")
    code, ndim = magic[2], magic[3]
    if code != _UINT8:
        name = _TYPE_NAMES.get(code, f"unknown 0x{code:02x}")
        raise DataError(f"{where}: IDX type {name} is not supported; only uint8 (0x08) is")
    if not 1 <= ndim <= limits.IDX_MAX_NDIM:
        raise DataError(f"{where}: IDX header says {ndim} dimensions; expected 1..{limits.IDX_MAX_NDIM}")
    if expect_ndim is not None and ndim != expect_ndim:
        raise DataError(f"{where}: IDX file has {ndim} dimensions, expected {expect_ndim} "
                        "(images are 3-D, labels 1-D): is it the right file?")
    raw = _read_exact(f, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{where}: truncated/corrupt: header ends inside the dimensions; "
                        "delete the file so it is downloaded again")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    if 0 in dims:
        raise DataError(f"{where}: IDX dimensions {dims} contain 0: the file holds no data")
    return dims


def _read_payload(f: BinaryIO, where: str, dims: tuple[int, ...], max_items: int,
                  max_bytes: int) -> np.ndarray:
    if dims[0] > max_items:
        raise DataError(f"{where}: IDX header claims {dims[0]:,} items; the limit is "
                        f"{max_items:,} (corrupt header or not a dataset file)")
    expected = int(np.prod(dims, dtype=object))
    if expected > max_bytes:
        raise DataError(f"{where}: IDX header claims {expected:,} bytes of data {dims}; "
                        f"the limit is {max_bytes:,} (corrupt header?)")
    out = np.empty(expected, dtype=np.uint8)
    view, got = memoryview(out), 0
    while got < expected:
        chunk = f.read(min(_CHUNK, expected - got))
        if not chunk:
            break
        view[got:got + len(chunk)] = chunk
        got += len(chunk)
    if got == expected and f.read(1):
        rest = 1 + len(_read_exact(f, _CHUNK))
        got += rest
        more = "+" if rest > _CHUNK else ""
        raise DataError(f"{where}: truncated/corrupt: expected {expected:,} bytes of data, got "
                        f"{got:,}{more} (trailing bytes); delete the file so it is downloaded "
                        "again")
    if got < expected:
        raise DataError(f"{where}: truncated/corrupt: expected {expected:,} bytes of data, got "
                        f"{got:,}; delete the file so it is downloaded again")
    return out.reshape(dims)
