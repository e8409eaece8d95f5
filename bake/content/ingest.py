"""A blob written into the store as it arrives, readable while it is written.

``ContentStore.ingesting(digest, size)`` gives an ``Ingest``: its writer ``write``s chunks (hashed on the
way to a temp file under ``ingest/``) and ends with ``commit`` — size and digest checked, the file
fsynced and renamed into place — or ``abort``. Meanwhile ``follow()`` hands other threads readers of
the bytes written so far, which wait for the rest. A follower never ends before the verdict: its
last read waits for ``commit`` and raises ``ContentError`` when the bytes were wrong or the write
failed (at once, even with bytes left to read; ``DownloadAbandoned`` when the writer gave up without
a verdict on the bytes, so a follower may download the blob itself). So a consumer that unpacks while a blob downloads
acts on verified bytes only if it reads to the end before it keeps anything (``drain``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
from typing import TYPE_CHECKING

from bake.content.atomic import disk_full_is_an_error, temp_name

if TYPE_CHECKING:
    from bake.content.store import ContentStore

OPEN, COMMITTED, FAILED = "open", "committed", "failed"


class Ingest:
    """One blob being written (see the module docstring). The writer's methods are called from one
    thread; ``follow`` and the followers from any."""

    def __init__(self, store: ContentStore, digest: str, size: int | None = None) -> None:
        self.store = store
        self.digest = digest
        self.size = size
        self.path = store.path(digest)  # checks the digest's form before anything is written
        os.makedirs(store.ingest, exist_ok=True)
        os.makedirs(store.blobs, exist_ok=True)
        self.tmp = temp_name(os.path.join(store.ingest, "blob"))
        with disk_full_is_an_error(store.root, "the content store"):
            self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._hash = hashlib.sha256()
        self.written = 0
        self.state = OPEN
        self._why = ""
        self._abandoned = False
        self._cond = threading.Condition()

    def write(self, data: bytes) -> None:
        """Append ``data``; more bytes than the descriptor's size fail the ingest at once."""
        if self.state != OPEN:
            raise self._error()
        if self.size is not None and self.written + len(data) > self.size:
            self.abort(f"the registry sent more than the {self.size} bytes its descriptor says")
            raise self._error()
        view = memoryview(data)
        try:
            with disk_full_is_an_error(self.store.root, "the content store"):
                while view:
                    view = view[os.write(self._fd, view):]
        except BaseException as err:
            self.abort(f"writing it failed: {err}")
            raise
        self._hash.update(data)
        with self._cond:
            self.written += len(data)
            self._cond.notify_all()

    def commit(self) -> str:
        """Check size and digest, then make the blob visible in the store; ``ContentError`` (and
        nothing stored) when they do not match. Blocks on fsync: call it from a worker thread."""
        from bake.content.store import ContentError, fsync_dir

        if self.state != OPEN:
            raise self._error()
        got = "sha256:" + self._hash.hexdigest()
        if got != self.digest or (self.size is not None and self.written != self.size):
            why = (f"content does not match {self.digest}: got {got}" if got != self.digest
                   else f"{self.written} bytes where its descriptor says {self.size}")
            self.abort(why)
            raise ContentError(why, self.digest)
        try:
            with disk_full_is_an_error(self.store.root, "the content store"):
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
                with self._cond:  # a follower opening the temp file now finds it or the blob, never neither
                    os.replace(self.tmp, self.path)
                    self.state = COMMITTED
                    self._cond.notify_all()
                fsync_dir(self.store.blobs)
        except BaseException as err:
            self.abort(f"storing it failed: {err}")
            raise
        return self.digest

    def abort(self, why: str | None = None) -> None:
        """Give up: the temp file goes, followers raise (``DownloadAbandoned`` without a ``why``: the
        writer stopped, nothing was found wrong). Nothing happens once committed."""
        with self._cond:
            if self.state != OPEN:
                return
            self.state = FAILED
            self._why = why or "its download was abandoned"
            self._abandoned = why is None
            self._cond.notify_all()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)

    def follow(self) -> Follower:
        """A reader of the blob from its first byte (see ``Follower``)."""
        with self._cond:
            if self.state == FAILED:
                raise self._error()
            fd = os.open(self.tmp if self.state == OPEN else self.path, os.O_RDONLY | os.O_CLOEXEC)
        return Follower(self, fd)

    def _error(self) -> Exception:
        from bake.content.store import ContentError, DownloadAbandoned

        if self._abandoned:
            return DownloadAbandoned(f"blob {self.digest}: {self._why}", self.digest)
        return ContentError(f"blob {self.digest}: {self._why or 'already stored'}", self.digest)

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()  # a no-op after commit


class Follower(io.RawIOBase):
    """Reads an ``Ingest`` as it is written; waits for bytes not written yet. End of file comes only
    after the blob was committed; a failed ingest raises ``ContentError``. ``stop`` (from any
    thread) wakes a waiting read, which then raises; ``close`` belongs to the reading thread."""

    def __init__(self, ingest: Ingest, fd: int) -> None:
        super().__init__()
        self._ingest = ingest
        self._fd = fd
        self._pos = 0
        self._stopped = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        ingest = self._ingest
        with ingest._cond:
            while not self._stopped and ingest.state == OPEN and self._pos >= ingest.written:
                ingest._cond.wait()
            if self._stopped:
                raise ValueError("read of a closed follower")
            if ingest.state == FAILED:
                raise ingest._error()
            available = ingest.written - self._pos
        if available == 0:
            return 0  # committed: the digest matched
        data = os.pread(self._fd, min(len(buffer), available), self._pos)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def drain(self) -> None:
        """Read to the end: returns once the blob is committed (raises if it never is)."""
        while self.read(1 << 20):
            pass

    def stop(self) -> None:
        with self._ingest._cond:
            self._stopped = True
            self._ingest._cond.notify_all()

    def close(self) -> None:
        self.stop()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()
