"""``RUN --mount=type=cache`` directories, shared between steps, builds and bake processes.

``sharing=shared`` hands every user the same directory; ``locked`` serialises users with an
exclusive ``flock`` (so it also holds across processes sharing the bake root); ``private`` gives
a user the main directory when it is free and a separate one when it is taken, as BuildKit does.
"""

from __future__ import annotations

import fcntl
import hashlib
import os

from bake._record import record
from bake.content.stateroot import StateRoot


@record
class Lease:
    path: str
    fd: int | None  # the held lock, if any

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


class CacheMounts:
    def __init__(self, root: str) -> None:
        self.root = StateRoot(root).cachemounts

    def acquire(self, cache_id: str, sharing: str = "shared", mode: int = 0o755, uid: int = 0, gid: int = 0) -> Lease:
        """The directory for ``cache_id``; call ``release()`` when the step is done (``locked`` blocks until free)."""
        base = os.path.join(self.root, hashlib.sha256(cache_id.encode()).hexdigest()[:32])
        main = self._dir(os.path.join(base, "data"), mode, uid, gid)
        if sharing == "shared":
            return Lease(main, None)
        if sharing == "locked":
            return Lease(main, self._lock(os.path.join(base, "lock"), blocking=True))
        if sharing != "private":
            raise ValueError(f"unknown cache sharing mode {sharing!r}")
        fd = self._lock(os.path.join(base, "lock"), blocking=False)
        if fd is not None:
            return Lease(main, fd)
        n = 0
        while True:  # the main directory is busy: take (or make) a private one that is free
            n += 1
            fd = self._lock(os.path.join(base, f"private-{n}.lock"), blocking=False)
            if fd is not None:
                return Lease(self._dir(os.path.join(base, f"private-{n}"), mode, uid, gid), fd)

    @staticmethod
    def _dir(path: str, mode: int, uid: int, gid: int) -> str:
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            if os.geteuid() == 0:
                os.chown(path, uid, gid)
        return path

    @staticmethod
    def _lock(path: str, blocking: bool) -> int | None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        return fd
