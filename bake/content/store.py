"""A content store: blobs named by their sha256, under ``<root>/blobs/sha256/``.

Writes go to ``<root>/ingest/`` first, are fsynced, and are renamed into place, so a blob is
either complete or absent — a crash or a concurrent writer never leaves half a blob behind
(``ingesting`` writes one as it downloads, readable meanwhile: ``content/ingest.py``).
Writing a blob that exists replaces it with the bytes just hashed, so a write also heals a damaged
copy. Bytes leaving the store are verified: ``read`` hashes what it returns, ``open`` hashes while
the caller streams and fails at the end (or at once, on a wrong size) with ``CorruptContent``, so a
blob whose bytes no longer match its name is never exported, pushed or unpacked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from bake.content.atomic import disk_full_is_an_error, stale_temporary, temp_name
from bake.errors import BakeError

if TYPE_CHECKING:
    from bake.content.ingest import Ingest


class ContentError(BakeError):
    """A blob is missing, or its bytes do not match its digest."""

    def __init__(self, message: str, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class DownloadAbandoned(ContentError):
    """A blob's download stopped before its end (its writer was cancelled or failed), with no verdict
    on its bytes: a follower may start the download again."""


class CorruptContent(ContentError):
    """A stored blob's bytes do not match its digest (``path`` is the damaged file)."""

    def __init__(self, digest: str, path: str, why: str = "its bytes do not match its digest") -> None:
        super().__init__(f"blob {digest} is corrupt: {why} ({path})", digest)
        self.path = path


class ContentStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        self.ingest = os.path.join(root, "ingest")
        self.repaired: list[str] = []  # what was found damaged and dropped: the app reports it as warnings

    def path(self, digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
            raise ContentError(f"invalid digest {digest!r}", digest)
        return os.path.join(self.blobs, hexd)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def write(self, data: bytes) -> str:
        """Store ``data``; returns its digest. Writing an existing blob replaces (heals) it."""
        return self.write_stream([data])[0]

    def write_stream(self, chunks: Iterable[bytes], expected: str | None = None) -> tuple[str, int]:
        """Store a stream of chunks; (digest, size). With ``expected``, a mismatch stores nothing."""
        os.makedirs(self.ingest, exist_ok=True)
        os.makedirs(self.blobs, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        tmp = temp_name(os.path.join(self.ingest, "blob"))
        try:
            with disk_full_is_an_error(self.root, "the content store"):
                with open(tmp, "xb") as f:
                    for chunk in chunks:
                        h.update(chunk)
                        size += len(chunk)
                        f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
                digest = "sha256:" + h.hexdigest()
                if expected is not None and expected != digest:
                    raise ContentError(f"content does not match {expected}: got {digest}", expected)
                # Replaced even when present: the new bytes are known good, the old copy may not be.
                os.replace(tmp, self.path(digest))
                fsync_dir(self.blobs)
            return digest, size
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def ingesting(self, digest: str, size: int | None = None) -> Ingest:
        """A blob to write as it arrives and read while it is written (``content/ingest.py``)."""
        from bake.content.ingest import Ingest

        return Ingest(self, digest, size)

    def read(self, digest: str, verify: bool = True) -> bytes:
        path = self.path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ContentError(f"blob {digest} not found", digest) from None
        if verify and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise CorruptContent(digest, path)
        return data

    def open(self, digest: str, size: int | None = None) -> VerifiedReader:
        """A reader of the blob that hashes as it goes; see ``VerifiedReader``."""
        path = self.path(digest)
        try:
            f = open(path, "rb")  # noqa: SIM115 -- the reader owns and closes it
        except FileNotFoundError:
            raise ContentError(f"blob {digest} not found", digest) from None
        return VerifiedReader(f, digest, path, size)

    def verify(self, digest: str) -> bool:
        """Whether the blob is present and whole (reads it all: for small blobs and repairs)."""
        try:
            self.read(digest)
        except ContentError:
            return False
        return True

    def drop(self, digest: str, why: str = "") -> None:
        """Remove a damaged blob, remembering it for the build's warnings."""
        if self.delete(digest):
            self.repaired.append(f"content store: blob {digest} was damaged{f' ({why})' if why else ''}; "
                                 "dropped and made again")

    def delete(self, digest: str) -> bool:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> list[str]:
        if not os.path.isdir(self.blobs):
            return []
        return sorted("sha256:" + n for n in os.listdir(self.blobs) if len(n) == 64)

    def sweep(self) -> int:
        """Remove ingest files of writers that died (a killed build); returns how many."""
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.ingest):
                if stale_temporary(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.ingest, name))
                        removed += 1
        return removed


class VerifiedReader:
    """A blob opened for streaming. ``size`` (the descriptor's) is checked against the file at once;
    the digest when the last byte has been read (``read`` returns it only after checking, and
    ``close`` checks a reader that was not read to the end only if ``finish`` is called). Any
    mismatch raises ``CorruptContent``."""

    def __init__(self, f: BinaryIO, digest: str, path: str, size: int | None) -> None:
        self._f = f
        self.digest = digest
        self.path = path
        self._hash = hashlib.sha256()
        self.size = os.fstat(f.fileno()).st_size
        self._left = self.size
        self._checked = False
        if size is not None and size != self.size:
            f.close()
            raise CorruptContent(digest, path, f"{self.size} bytes where its descriptor says {size}")

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(self._left if n < 0 else min(n, self._left))
        if not data and self._left:
            raise CorruptContent(self.digest, self.path, "it was truncated while being read")
        self._hash.update(data)
        self._left -= len(data)
        if self._left == 0:
            self.finish()
        return data

    def finish(self) -> None:
        """Read whatever is left and check the digest (once)."""
        while self._left:
            self.read(1 << 20)
        if self._checked:
            return
        self._checked = True
        if "sha256:" + self._hash.hexdigest() != self.digest:
            raise CorruptContent(self.digest, self.path)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
