"""Download a file from a list of mirrors, resumably, and verify its MD5.

The bytes go to ``<dest>.part``; only after the MD5 matches is the file renamed
to ``dest`` (atomic), so a half-downloaded or tampered file can never be taken
for a good one. An interrupted transfer keeps its ``.part`` and the next call
resumes it with an HTTP Range request when the server allows, else restarts.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from aeviz.core import files
from aeviz.core import limits
from aeviz.core.errors import DataError
from aeviz.core.paths import cache_dir

Progress = Callable[[int, int], None]    # (bytes done, total bytes or 0 when unknown)
_CHUNK = 1 << 16
_USER_AGENT = "aeviz (python urllib)"
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)
_verified_here: set[tuple] = set()   # (path, md5, file_version) of each file that matched, this process


class DownloadError(DataError):
    """No mirror delivered the file; the message lists what each one answered."""


class _Interrupted(Exception):
    """The server closed the connection before the whole body arrived."""


def md5sum(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, md5: str) -> None:
    """Raise DataError unless ``path`` has the given MD5.

    The MD5 is computed on the first check of a file in a process (MNIST's
    9.9 MB training images take ~0.06 s) and remembered for that exact
    ``file_version``, so later loads are free. Nothing on disk is trusted to
    skip the hash: size and mtime alone can be restored with ``os.utime``
    after an in-place rewrite. The ``<name>.verified`` marker in aeviz's cache
    only lets the refusal say the file was changed after aeviz verified it.
    """
    key = (str(path.resolve()), md5, file_version(path))   # taken before hashing: a later write moves it
    if key in _verified_here:
        return
    actual = md5sum(path)
    if actual != md5:
        raise DataError(_mismatch_message(path, actual, md5, key[2][2]))
    _verified_here.add(key)
    if Path(key[0]).is_relative_to(cache_dir().resolve()) and not _marker_says(path, md5):
        _write_marker(_marker(path), {"md5": md5, "size": key[2][2]})


def file_version(path: Path) -> tuple[int, int, int, int, int]:
    """(device, inode, size, mtime_ns, ctime_ns): changes whenever the bytes may have.

    ctime moves on every write, rename and ``utime`` and cannot be set back
    by a user, so a rewrite that restores size and mtime still shows.
    """
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _mismatch_message(path: Path, actual: str, md5: str, size: int) -> str:
    if _was_verified(path, md5):
        return (f"{path} was modified after it was verified: MD5 {actual}, expected {md5}; "
                "delete it so it is downloaded again, or replace it with the original file")
    return (f"{path} is truncated/corrupt or a different version: MD5 {actual}, expected "
            f"{md5} ({size:,} bytes); delete it so it is downloaded again, or replace it "
            "with the original file")


def _was_verified(path: Path, md5: str) -> bool:
    resolved = str(path.resolve())
    return any(k[:2] == (resolved, md5) for k in _verified_here) or _marker_says(path, md5)


def _marker_says(path: Path, md5: str) -> bool:
    record = _read_marker(_marker(path))
    return isinstance(record, dict) and record.get("md5") == md5


def forget_verified() -> None:
    """Forget this process's verified files, as a fresh process would (tests)."""
    _verified_here.clear()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _read_marker(marker: Path) -> dict | None:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def _write_marker(marker: Path, record: dict) -> None:
    # a record for the refusal message only: if it cannot be written, nothing is lost but wording
    files.cache_write("download check", marker.parent, lambda: files.write_json_atomic(marker, record))


def download(url_list: Sequence[str], dest: Path, md5: str, progress: Progress | None = None,
             timeout: float = 30, max_bytes: int = limits.DOWNLOAD_MAX_BYTES) -> Path:
    """Fetch ``dest`` from the first mirror that delivers bytes with this MD5.

    Returns ``dest``. Raises DownloadError (a DataError) listing every mirror's
    failure, or DataError when ``dest``'s folder cannot be written.
    """
    dest, md5 = Path(dest), md5.lower()
    if dest.is_file():
        verify_file(dest, md5)
        return dest
    _make_folder(dest.parent)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in url_list:
        try:
            _fetch_verified(url, part, md5, progress, timeout, max_bytes)
        except (DownloadError, _Interrupted) as e:
            failures.append(f"{url}: {e}")
            continue
        os.replace(part, dest)
        _write_marker(_marker(dest), {"md5": md5, "size": dest.stat().st_size})
        return dest
    kept = f"; the partial download {part} is kept and resumed next time" if part.exists() else ""
    raise DownloadError(f"could not download {dest.name}: " + "; ".join(failures) + kept)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".aeviz-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DataError(f"cannot write to {folder} ({e.strerror or e}); set AEVIZ_CACHE_DIR to "
                        "a writable folder, or download the files yourself and put them in "
                        "AEVIZ_DATA_DIR") from None


def _fetch_verified(url: str, part: Path, md5: str, progress: Progress | None,
                    timeout: float, max_bytes: int) -> None:
    """Download (resuming ``part`` if present) and check the MD5; bad bytes are deleted."""
    resumed = _fetch(url, part, progress, timeout, max_bytes, resume=part.exists())
    actual = md5sum(part)
    if actual == md5:
        return
    part.unlink()
    if resumed:   # the old .part may have come from another version: one fresh try
        _fetch(url, part, progress, timeout, max_bytes, resume=False)
        actual = md5sum(part)
        if actual == md5:
            return
        part.unlink()
    raise DownloadError(f"MD5 {actual} does not match the expected {md5}; file discarded")


def _fetch(url: str, part: Path, progress: Progress | None, timeout: float, max_bytes: int,
           resume: bool) -> bool:
    """Stream ``url`` into ``part``; return True when it appended to an earlier .part."""
    offset = part.stat().st_size if resume else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:   # nothing left to fetch: the .part may be complete
            return True
        raise DownloadError(f"HTTP {e.code} {e.reason}") from None
    except _NETWORK_ERRORS as e:
        raise DownloadError(_reason(e)) from None
    with response:
        appending = offset > 0 and response.status == 206 and \
            response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
        offset = offset if appending else 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else 0
        if total > max_bytes:
            raise DownloadError(f"{total:,} bytes is over the {max_bytes:,}-byte limit")
        _stream(response, part, offset, total, progress, max_bytes)
    return appending


def _stream(response, part: Path, offset: int, total: int, progress: Progress | None,
            max_bytes: int) -> None:
    done = offset
    try:
        out = open(part, "ab" if offset else "wb")
    except OSError as e:
        raise DataError(f"cannot write {part} ({e.strerror or e}); set AEVIZ_CACHE_DIR to a "
                        "writable folder with free space") from None
    with out:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except _NETWORK_ERRORS as e:
                raise _Interrupted(f"connection lost after {done:,} bytes ({_reason(e)})") from None
            if not chunk:
                break
            done += len(chunk)
            if done > max_bytes:
                part.unlink(missing_ok=True)
                raise DownloadError(f"more than the {max_bytes:,}-byte limit was sent")
            try:
                out.write(chunk)
            except OSError as e:
                raise DataError(f"cannot write {part} ({e.strerror or e}): disk full or not "
                                "writable; set AEVIZ_CACHE_DIR to a folder with free "
                                "space") from None
            if progress is not None:
                progress(done, total)
    if total and done < total:
        raise _Interrupted(f"connection closed after {done:,} of {total:,} bytes")


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return f"cannot connect ({e.reason}); are you offline?"
    return f"{type(e).__name__}: {e}"
