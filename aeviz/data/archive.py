"""Safe reading of untrusted zip archives (image uploads, uploaded checkpoints).

Refused: absolute paths, ``..``, drive letters, symlinks, encrypted members,
duplicate names, too many files, too many bytes (counted while decompressing,
not taken from the header) and members that inflate suspiciously (zip bombs).
``safe_extract`` writes into a temporary sibling folder and renames it into
place only when every member passed, so a refused archive leaves nothing behind.

Names people chose (member names, folder and label names that become class
names) are shown in messages through ``shown`` and accepted as display names
only through ``display_name``: the data package's one rule for both.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

from aeviz.core import limits
from aeviz.core.errors import DataError

_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
# what zipfile raises for damaged archives, besides BadZipFile
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
               NotImplementedError, RuntimeError, OverflowError, UnicodeDecodeError, KeyError,
               IndexError)
ZipSource = str | Path | bytes | BinaryIO
# Bidirectional formatting characters: they reorder how the text around them is drawn, so a
# name holding one can read as another (U+202E turns "cat\u202egnp.exe" into "catexe.png").
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# controls (C0, DEL, C1), line/paragraph separators and lone surrogates: they break or fake lines
_INVISIBLE = frozenset({"Cc", "Zl", "Zp", "Cs"})


def shown(text: str) -> str:
    """``text`` fit for a message: invisible, control and bidi characters escaped as repr does."""
    return repr(text)[1:-1]


def display_name(text: str, what: str) -> str:
    """``text`` in Unicode NFC, refused if it holds a control or bidi character.

    NFC makes names that look the same equal ("e\u0301" and "\u00e9" are one
    class). ``what`` says where the name came from, for the message.
    """
    text = unicodedata.normalize("NFC", text)
    bad = next((c for c in text if c in _BIDI or unicodedata.category(c) in _INVISIBLE), None)
    if bad is not None:
        kind = unicodedata.name(bad, "a control character")
        raise DataError(f"{what} '{shown(text)}' contains U+{ord(bad):04X} ({kind}), which would "
                        "change how names are displayed; rename it with visible characters only")
    return text


def iter_members(zip_source: ZipSource, *, max_files: int = limits.ZIP_MAX_FILES,
                 max_total_bytes: int = limits.ZIP_MAX_TOTAL_BYTES,
                 max_ratio: float = limits.ZIP_MAX_RATIO) -> Iterator[tuple[str, bytes]]:
    """Yield (normalised name, content) of each file member; directories are skipped.

    Every name and header is checked before the first member is yielded.
    """
    zf = _open(zip_source)
    with zf:
        try:
            members = _checked_members(zf, max_files, max_total_bytes)
        except DataError:
            raise
        except _ZIP_ERRORS as e:
            raise DataError(f"corrupt zip archive ({type(e).__name__}: {e})") from None
        budget = [max_total_bytes]   # bytes still allowed, shared by all members
        for name, info in members:
            yield name, _read_member(zf, info, name, budget, max_total_bytes, max_ratio)


def safe_extract(zip_source: ZipSource, dest: Path, *, max_files: int = limits.ZIP_MAX_FILES,
                 max_total_bytes: int = limits.ZIP_MAX_TOTAL_BYTES,
                 max_ratio: float = limits.ZIP_MAX_RATIO) -> list[Path]:
    """Extract into the new folder ``dest`` (must not exist, or be empty); return the files."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest} already exists and is not an empty folder; choose another")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    except OSError as e:
        raise DataError(f"cannot write to {dest.parent} ({e.strerror or e})") from None
    try:
        names = _extract_into(zip_source, tmp, max_files, max_total_bytes, max_ratio)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [dest.joinpath(*n.split("/")) for n in names]


def _extract_into(zip_source: ZipSource, root: Path, max_files: int, max_total_bytes: int,
                  max_ratio: float) -> list[str]:
    root = root.resolve()
    names = []
    for name, data in iter_members(zip_source, max_files=max_files,
                                   max_total_bytes=max_total_bytes, max_ratio=max_ratio):
        target = root.joinpath(*name.split("/")).resolve()
        if not target.is_relative_to(root) or target == root:
            raise DataError(f"zip member {name!r} would be written outside the target folder")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as f:      # "x": never overwrite, never follow a link
                f.write(data)
        except OSError as e:
            raise DataError(f"cannot extract {name!r} ({e.strerror or e})") from None
        names.append(name)
    return names


def _open(zip_source: ZipSource) -> zipfile.ZipFile:
    if isinstance(zip_source, (bytes, bytearray, memoryview)):
        zip_source = io.BytesIO(bytes(zip_source))
    try:
        return zipfile.ZipFile(zip_source)
    except FileNotFoundError:
        raise DataError(f"{zip_source}: file not found") from None
    except _ZIP_ERRORS as e:
        raise DataError(f"not a readable zip archive ({type(e).__name__}: {e}); "
                        "upload a .zip file") from None


def _checked_members(zf: zipfile.ZipFile, max_files: int,
                     max_total_bytes: int) -> list[tuple[str, zipfile.ZipInfo]]:
    infos = zf.infolist()
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_files:
        raise DataError(f"zip archive has {len(files):,} files; the limit is {max_files:,}")
    declared = sum(i.file_size for i in files)
    if declared > max_total_bytes:
        raise DataError(f"zip archive would unpack to {declared:,} bytes; the limit is "
                        f"{max_total_bytes:,}")
    seen: set[str] = set()
    out = []
    for info in infos:
        name = _safe_name(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(f"zip member {name!r} is a symbolic link; links are not allowed")
        if info.flag_bits & 0x1:
            raise DataError(f"zip member {name!r} is encrypted; upload an unencrypted archive")
        # file systems that ignore case (Windows) or normalisation (macOS) would merge these
        key = unicodedata.normalize("NFC", name).casefold()
        if key in seen:
            raise DataError(f"zip archive holds {name!r} twice (names must be unique, "
                            "ignoring case and Unicode normalisation)")
        seen.add(key)
        if not info.is_dir():
            out.append((name, info))
    return out


def _safe_name(raw: str) -> str:
    """Member name with '/' separators, refusing anything that could escape the folder."""
    if "\0" in raw:
        raise DataError(f"zip member name {raw!r} contains a NUL byte")
    parts = re.split(r"[\\/]", raw)
    if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
        raise DataError(f"zip member {raw!r} has an absolute path; only relative names are allowed")
    if ".." in parts:
        raise DataError(f"zip member {raw!r} contains '..'; it would escape the target folder")
    parts = [p for p in parts if p not in ("", ".")]
    if not parts:
        raise DataError(f"zip member name {raw!r} is empty")
    return "/".join(parts)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: list[int],
                 max_total_bytes: int, max_ratio: float) -> bytes:
    limit = max(limits.ZIP_RATIO_FREE_BYTES, int(max_ratio * max(info.compress_size, 1)))
    out = bytearray()
    try:
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                out += chunk
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise DataError(f"zip archive unpacks to more than {max_total_bytes:,} "
                                    "bytes (the limit)")
                if len(out) > limit:
                    raise DataError(f"zip member {name!r} inflates more than {max_ratio:g}x "
                                    "(a zip bomb?); refused")
    except DataError:
        raise
    except _ZIP_ERRORS as e:
        raise DataError(f"zip member {name!r} is corrupt ({type(e).__name__}: {e})") from None
    return bytes(out)
