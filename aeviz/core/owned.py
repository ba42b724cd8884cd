"""What aeviz may replace, and one writer per target.

aeviz replaces or deletes only what it can prove it wrote: a folder whose
every entry is a file aeviz writes there (the caller says which names those
are and how to recognise its own format), or a file in aeviz's own format.
Anything else is kept and the refusal names what was found. ``writer_lock``
makes one process (and one thread) at a time the writer of a target, so two
saves to one name never race: the second is refused at once, before any work.
"""
from __future__ import annotations

import errno
import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from aeviz.core.errors import AevizError


class NotOurs(AevizError, ValueError):
    """A target holds something aeviz did not write; it is kept, and the write refused."""


class Busy(AevizError, RuntimeError):
    """Another aeviz process or session is writing the same target right now."""


def foreign_entries(folder: Path, is_ours: Callable[[str], bool], limit: int = 10_000) -> list[str]:
    """Relative paths under ``folder`` that ``is_ours(relpath)`` does not claim.

    Symbolic links and special files are never ours. Folders are walked (not
    followed through links); a folder is ours when everything in it is.
    """
    foreign: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        rel_root = Path(root).relative_to(folder)
        for name in sorted(dirs):
            if os.path.islink(os.path.join(root, name)):
                foreign.append((rel_root / name).as_posix())
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in sorted(names):
            rel = (rel_root / name).as_posix()
            full = os.path.join(root, name)
            if os.path.islink(full) or not os.path.isfile(full) or not is_ours(rel):
                foreign.append(rel)
        if len(foreign) >= limit:
            break
    return foreign


def refuse_foreign(path: Path, what: str, foreign: list[str], hint: str) -> None:
    """Raise NotOurs naming (a few of) the entries aeviz did not write."""
    if not foreign:
        return
    shown = ", ".join(repr(f) for f in foreign[:5]) + (f" and {len(foreign) - 5} more"
                                                       if len(foreign) > 5 else "")
    raise NotOurs(f"{path} holds files aeviz did not write ({shown}), so it is not replaced as "
                  f"{what}: nothing was changed. {hint}")


# --- one writer per target -------------------------------------------------------------

_held: dict[str, tuple[int, int]] = {}          # lock path -> (thread id, depth): re-entrant per thread
_held_guard = threading.Lock()


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: hidden, beside it (so the lock works before it exists)."""
    target = Path(os.path.abspath(target))
    return target.with_name(f".{target.name}.aeviz-lock")


@contextmanager
def writer_lock(target: str | Path, what: str = "target") -> Iterator[None]:
    """Hold the exclusive right to write ``target``; Busy if someone else holds it.

    Works across processes (``flock`` on a lock file beside the target) and
    across threads of one process; the thread that holds it may enter again
    (a CLI run holds it from its first check to the save, and the save takes
    it too). The lock file is removed on release.
    """
    path = lock_path(Path(target))
    key = str(path)
    me = threading.get_ident()
    with _held_guard:
        owner = _held.get(key)
        if owner is not None and owner[0] != me:
            raise Busy(_busy(target, what))
        if owner is not None:
            _held[key] = (me, owner[1] + 1)
    if owner is not None:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] = (me, _held[key][1] - 1)
        return
    fd = _acquire(path, target, what)
    with _held_guard:
        _held[key] = (me, 1)
    try:
        yield
    finally:
        with _held_guard:
            _held.pop(key, None)
        try:
            os.unlink(path)           # while still locked: a waiter re-checks the inode
        except OSError:
            pass
        os.close(fd)


def _acquire(path: Path, target, what: str) -> int:
    """Open + flock the lock file; retry if it was unlinked between our open and our lock."""
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            if e.errno == errno.ENOENT:          # the folder does not exist yet: nothing to race with
                path.parent.mkdir(parents=True, exist_ok=True)
                continue
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy(_busy(target, what)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)                             # the previous holder removed it: take the new one
    raise Busy(_busy(target, what))


def _busy(target, what: str) -> str:
    return (f"another aeviz process or session is writing {what} {target} right now; wait for it "
            "to finish or choose another name. Nothing was changed.")
