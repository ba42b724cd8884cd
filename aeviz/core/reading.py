"""Reading untrusted files: the one bounded, validated reader for every file aeviz opens from a folder.

Checkpoint files (config, weights, history, metrics, maps), map cache entries,
judge caches and reports all come through here. A path is read only when it
stays inside its ``root`` after resolving links, is a regular file, and holds
at most ``max_bytes`` (counted while reading: ``st_size`` lies for /proc files
and changes under us). Every fault becomes the caller's error class with one
sentence saying what is wrong; nothing else escapes.
"""
from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any, Collection

import numpy as np
from numpy.lib import format as npy

from aeviz.core import limits
from aeviz.core.errors import AevizError, DataError

_CHUNK = 1 << 20                      # bytes per read() call
_DIRECTORY_ENTRY_BYTES = 1024         # generous for one central-directory record of a short name
_EOCD, _ZIP64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"
_HINT = "replace it with a file aeviz wrote"


def size_text(n: int) -> str:
    """``4 MB`` for whole mebibytes (how aeviz's messages state limits), else ``1,234 bytes``."""
    return f"{n // limits.MiB} MB" if n >= limits.MiB and n % limits.MiB == 0 else f"{n:,} bytes"


def read_bytes(path: str | Path, *, root: str | Path, max_bytes: int, what: str,
               error: type[AevizError] = DataError, hint: str = _HINT) -> bytes:
    """The content of ``path`` (at most ``max_bytes``), refused with ``error`` otherwise.

    Refused: a path that resolves outside ``root`` (a link to /proc/self/mem or
    to another folder), anything but a regular file (fifo, device, folder), a
    file holding more than ``max_bytes`` (at most max_bytes + 1 are read), and
    any OSError, each as one sentence naming ``what`` and the file.
    """
    path = Path(path)
    label = f"{what} {path.name}"
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    if os.path.commonpath([base, real]) != base:
        raise error(f"{label} is a link that leads outside {Path(root).name or root} (to {real}); "
                    f"it is refused: {hint}")
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):       # before opening: a device is never opened
            raise error(f"{label} is not a regular file (a folder, pipe or device); it is refused: {hint}")
        # resolved already, so O_NOFOLLOW only refuses a link swapped in since; O_NONBLOCK: a fifo
        # swapped in does not hang the open
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise error(f"{label} is not a regular file; it is refused: {hint}")
            data = _read_at_most(fd, max_bytes + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise error(f"{label} does not exist in {Path(root)}: {hint}") from None
    except OSError as e:
        raise error(f"cannot read {label} ({e.strerror or e}): {hint}") from None
    if len(data) > max_bytes:
        raise error(f"{label} is larger than {size_text(max_bytes)}; it is not an aeviz file: {hint}")
    return data


def _read_at_most(fd: int, n: int) -> bytes:
    chunks, size = [], 0
    while size < n:
        chunk = os.read(fd, min(_CHUNK, n - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes | str, *, what: str, kind: type | None = None,
               error: type[AevizError] = DataError, hint: str = _HINT) -> Any:
    """``json.loads(raw)``, every parse fault (deep nesting, bad UTF-8, 5000-digit ints) as ``error``;
    ``kind`` (dict or list): the top-level type required."""
    try:
        data = json.loads(raw)
    # ValueError: JSONDecodeError, UnicodeDecodeError or an int of > 4300 digits; RecursionError: [[[[...]]]]
    except (ValueError, RecursionError) as e:
        raise error(f"{what} is not valid JSON ({str(e)[:200]}): {hint}") from None
    if kind is not None and not isinstance(data, kind):
        expected = {dict: "a JSON object", list: "a JSON list"}.get(kind, kind.__name__)
        raise error(f"{what} holds {type(data).__name__} where {expected} is expected: {hint}")
    return data


def read_json(path: str | Path, *, root: str | Path, max_bytes: int, what: str, kind: type | None = None,
              error: type[AevizError] = DataError, hint: str = _HINT) -> Any:
    """``read_bytes`` then ``parse_json``."""
    raw = read_bytes(path, root=root, max_bytes=max_bytes, what=what, error=error, hint=hint)
    return parse_json(raw, what=f"{what} {Path(path).name}", kind=kind, error=error, hint=hint)


def read_npz(path: str | Path, *, root: str | Path, max_bytes: int, max_inflated_bytes: int,
             names: Collection[str], what: str, error: type[AevizError] = DataError,
             hint: str = _HINT) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` whose members are ``NAME.npy`` for NAME in ``names``.

    The zip directory is checked before anything is inflated: no zip64, at most
    len(names) distinct members, declared sizes summing to at most
    ``max_inflated_bytes`` (zipfile stops reading a member at its declared
    size), and each member's .npy header claiming no more data than the member
    holds (numpy allocates what the header claims). Then ``np.load`` without
    pickle. Any fault of a corrupt archive is ``error``.
    """
    raw = read_bytes(path, root=root, max_bytes=max_bytes, what=what, error=error, hint=hint)
    label = f"{what} {Path(path).name}"
    try:
        _check_directory(raw, len(names), label, error, hint)
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            _check_members(z, names, max_inflated_bytes, label, error, hint)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except AevizError:
        raise
    # zipfile, zlib and numpy raise a wide family (BadZipFile, EOFError, ValueError, struct.error,
    # NotImplementedError for odd compressions, ...) on a corrupt archive: all mean the same here
    except Exception as e:
        raise error(f"{label} is not a readable .npz ({type(e).__name__}: {str(e)[:200]}): {hint}") from None


def _check_directory(raw: bytes, max_members: int, label: str, error, hint: str) -> None:
    """The end record's member count and directory size, before zipfile parses the directory."""
    end = raw.rfind(_EOCD, max(0, len(raw) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(raw):
        raise error(f"{label} is not a zip archive (.npz): {hint}")
    if raw[max(0, end - 20):end - 16] == _ZIP64_LOCATOR:
        raise error(f"{label} uses a zip64 directory, which aeviz never writes: {hint}")
    members, directory = struct.unpack_from("<HI", raw, end + 10)   # total entries, directory size
    if members > max_members or directory > max_members * _DIRECTORY_ENTRY_BYTES:
        raise error(f"{label} lists {members} members in a {directory:,}-byte directory; at most "
                    f"{max_members} are expected: {hint}")


def _check_members(z: zipfile.ZipFile, names: Collection[str], max_inflated_bytes: int, label: str,
                   error, hint: str) -> None:
    infos = z.infolist()
    seen = [i.filename for i in infos]
    allowed = {f"{n}.npy" for n in names}
    odd = [n for n in seen if n not in allowed]
    if odd or len(set(seen)) != len(seen):
        raise error(f"{label} holds unexpected or repeated members ({', '.join(odd[:3]) or 'duplicates'}); "
                    f"expected only {', '.join(sorted(allowed))}: {hint}")
    declared = sum(i.file_size for i in infos)
    if declared > max_inflated_bytes:
        raise error(f"{label} inflates to {declared:,} bytes, more than {size_text(max_inflated_bytes)}: {hint}")
    for info in infos:
        with z.open(info) as f:
            version = npy.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise error(f"{label}: {info.filename} is .npy version {version}, not 1.0 or 2.0: {hint}")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _fortran, dtype = read_header(f)
        if dtype.hasobject or math.prod(shape) * dtype.itemsize > info.file_size:
            raise error(f"{label}: {info.filename} claims an array of {shape} {dtype} that it does not "
                        f"hold (or one of Python objects): {hint}")
