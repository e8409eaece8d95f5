"""Whole-file writes that are never seen half-done: a temp file beside the target, fsync, rename.

Temp names carry the writer's pid (``<path>.<pid>.<thread>.<n>.tmp``), so what a killed process
left behind is told apart from a live writer's file and removed (``stale_temporary``). A full disk
(``ENOSPC``, ``EDQUOT``) becomes ``NoSpaceError`` naming the file, never a bare ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import threading
from collections.abc import Iterator
from typing import BinaryIO

from bake.errors import BakeError

_counter = itertools.count()
_TEMP = re.compile(r"\.(\d+)\.\d+\.\d+\.tmp$")
FULL = (errno.ENOSPC, errno.EDQUOT)


class NoSpaceError(BakeError):
    """The disk (or quota) holding ``path`` is full; nothing was left half-written there."""

    def __init__(self, path: str, what: str = "") -> None:
        self.path = path
        self.what = what
        where = f"{what} ({path})" if what else path
        super().__init__(f"no space left on device while writing {where}: free some space "
                         "(or `bake prune`) and build again")


@contextlib.contextmanager
def disk_full_is_an_error(path: str, what: str = "") -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside the block into ``NoSpaceError(path, what)``."""
    try:
        yield
    except OSError as err:
        if err.errno in FULL:
            raise NoSpaceError(path, what) from err
        raise


def temp_name(path: str) -> str:
    """A temp name beside ``path`` that is this thread's alone and names this process."""
    return f"{path}.{os.getpid()}.{threading.get_ident()}.{next(_counter)}.tmp"


def stale_temporary(name: str) -> bool:
    """Whether ``name`` is a temp file (``temp_name``) of a process that no longer runs."""
    m = _TEMP.search(name)
    return m is not None and not pid_alive(int(m.group(1)))


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


@contextlib.contextmanager
def atomic_file(path: str, durable: bool = True) -> Iterator[BinaryIO]:
    """A file to write ``path`` through: it appears whole when the block ends, and not at all if
    the block fails. Every write has a temp name of its own, so concurrent writers (processes or
    threads) never share one; it is created like any new file (0666 less the umask). ``durable``:
    its data reaches the disk before it takes the name (fsync); without, a crash may leave it empty
    — for records whose loss a later check detects."""
    tmp = temp_name(path)
    try:
        with disk_full_is_an_error(path):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str, data: bytes, durable: bool = True) -> None:
    with atomic_file(path, durable) as f:
        f.write(data)
