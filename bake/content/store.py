"""A content store: blobs named by their sha256, under ``<root>/blobs/sha256/``.

Writes go to ``<root>/ingest/`` first, are fsynced, and are renamed into place, so a blob is
either complete or absent — a crash or a concurrent writer never leaves half a blob behind.
Reads verify the digest unless told not to.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable

from bake.errors import BakeError


class ContentError(BakeError):
    """A blob is missing, or its bytes do not match its digest."""

    def __init__(self, message: str, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class ContentStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        self.ingest = os.path.join(root, "ingest")

    def path(self, digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
            raise ContentError(f"invalid digest {digest!r}", digest)
        return os.path.join(self.blobs, hexd)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def write(self, data: bytes) -> str:
        """Store ``data``; returns its digest. Writing an existing blob is a no-op."""
        return self.write_stream([data])[0]

    def write_stream(self, chunks: Iterable[bytes], expected: str | None = None) -> tuple[str, int]:
        """Store a stream of chunks; (digest, size). With ``expected``, a mismatch stores nothing."""
        os.makedirs(self.ingest, exist_ok=True)
        os.makedirs(self.blobs, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.ingest, prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            digest = "sha256:" + h.hexdigest()
            if expected is not None and expected != digest:
                raise ContentError(f"content does not match {expected}: got {digest}", expected)
            target = self.path(digest)
            if os.path.exists(target):
                os.unlink(tmp)
            else:
                os.replace(tmp, target)
                _fsync_dir(self.blobs)
            return digest, size
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read(self, digest: str, verify: bool = True) -> bytes:
        try:
            with open(self.path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ContentError(f"blob {digest} not found", digest) from None
        if verify and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ContentError(f"blob {digest} is corrupt: its bytes do not match its digest", digest)
        return data

    def delete(self, digest: str) -> bool:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> list[str]:
        if not os.path.isdir(self.blobs):
            return []
        return sorted("sha256:" + n for n in os.listdir(self.blobs))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
