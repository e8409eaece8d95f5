"""Directory-descriptor helpers for changing trees without following links: shared by the worker
(untrusted snapshots) and the local exporter (a user's output directory)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close ``fd`` when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


def remove_at(dirfd: int, name: str) -> bool:
    """Delete ``name`` in the directory ``dirfd`` (a directory with all it holds) without following
    any link. Returns whether there was one."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        with opened(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)) as fd:
            with os.scandir(fd) as it:
                names = [e.name for e in it]
            for child in names:
                remove_at(fd, child)
        os.rmdir(name, dir_fd=dirfd)
    else:
        os.unlink(name, dir_fd=dirfd)
    return True
