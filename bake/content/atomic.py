"""Whole-file writes that are never seen half-done: a temp file beside the target, fsync, rename."""

from __future__ import annotations

import itertools
import os
import threading

_counter = itertools.count()


def write_atomic(path: str, data: bytes) -> None:
    # A temp name of its own for every write, so concurrent writers (processes or threads) never
    # share one; created like any new file (0666 less the umask), not with mkstemp's 0600.
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.{next(_counter)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
