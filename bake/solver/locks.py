"""Cache-key locks shared by every bake process on one root: ``<root>/locks/<key hex>``, held with ``flock``.

The kernel drops a ``flock`` when the last descriptor of its open file closes, so a holder killed at
any moment (SIGKILL included) never blocks anyone; descriptors are close-on-exec, so a container or
other child outliving a killed build never holds one. Waiting polls with ``LOCK_NB`` and
``anyio.sleep``: it blocks neither the event loop nor a worker thread, and is cancelled like any
other wait.

Lock files do not accumulate: a holder unlinks its file before letting go, and a waiter that then
wins the lock of the unlinked (or since replaced) file starts again on the current one. Only a killed
holder leaves its file behind; the next holder of that key reuses and removes it, and ``clean``
(``bake prune``) removes the rest with the same protocol, safely while builds run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import AsyncIterator, Callable, Iterator

import anyio

from bake.content.stateroot import StateRoot


class FileLocks:
    def __init__(self, root: str, poll: float = 0.02, longest: float = 0.25) -> None:
        self.dir = StateRoot(root).locks
        self.poll = poll
        self.longest = longest  # a long step is waited for with at most this latency

    def _path(self, key: str) -> str:
        return os.path.join(self.dir, key.partition(":")[2] or key)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, waiting: Callable[[], None]) -> AsyncIterator[None]:
        path = self._path(key)
        try:
            fd: int | None = await self._acquire(path, waiting)
        except OSError:
            # The lock only saves repeated work (two holders both store a whole, valid entry): a root
            # where it cannot be made (no space for the file, read-only locks dir) builds without it.
            fd = None
        try:
            yield
        finally:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)  # while still held: see the module docstring
                os.close(fd)

    async def _acquire(self, path: str, waiting: Callable[[], None]) -> int:
        delay = self.poll
        told = False
        while True:
            fd = _take(path, create=True)
            if fd is not None:
                return fd
            if not told:
                told = True
                waiting()
            await anyio.sleep(delay)
            delay = min(delay * 2, self.longest)

    def clean(self) -> int:
        """Remove the lock files nobody holds (left by killed holders); the number removed."""
        removed = 0
        for path in self._files():
            fd = _take(path, create=False)
            if fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
                os.close(fd)
        return removed

    def _files(self) -> Iterator[str]:
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return
        for name in names:
            yield os.path.join(self.dir, name)


def _take(path: str, create: bool) -> int | None:
    """A descriptor holding the lock of the file now at ``path``, or None if someone else holds it
    (or, without ``create``, there is no file)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o600)
        except FileNotFoundError:
            if not create:
                return None
            os.makedirs(os.path.dirname(path), exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        held = os.fstat(fd)
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            return fd
        os.close(fd)  # the holder unlinked it as we locked it: lock the current file instead
        if not create:
            return None


class NoLocks:
    """For a solver whose cache no other solver shares: its singleflight already runs each key once."""

    @contextlib.asynccontextmanager
    async def hold(self, key: str, waiting: Callable[[], None]) -> AsyncIterator[None]:
        yield
