"""Whole-file writes that are never seen half-done: a temp file beside the target, fsync, rename."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator
from typing import BinaryIO

_counter = itertools.count()


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[BinaryIO]:
    """A file to write ``path`` through: it appears whole when the block ends, and not at all if
    the block fails. Every write has a temp name of its own, so concurrent writers (processes or
    threads) never share one; it is created like any new file (0666 less the umask)."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.{next(_counter)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)
