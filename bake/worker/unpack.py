"""Apply an OCI layer tar onto a directory, safely.

Whiteouts (``.wh.<name>``) delete, opaque markers (``.wh..wh..opq``) empty a directory of what
lower layers put there. No entry may land outside the root: every entry goes through the in-root
resolver (``inroot``), so absolute names, ``..`` and symlinks met on the way — planted by this
or an earlier layer — stay inside it. Hard links must point inside the root too. Device nodes
are only created when running as root.

``apply_blob`` takes the compressed blob as it streams (from the store, or from a download still
running) and checks both digests before it returns: the blob's (its reader raises at the end) and
the uncompressed tar's against the image config's diff ID. The caller keeps nothing it wrote
unless it returns.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import BinaryIO

from bake.content.compression import Blob, decompressing
from bake.content.ingest import Follower
from bake.worker.errors import SourceError
from bake.worker.inroot import Root
from bake.worker.writes import extract


def apply_layer(stream: BinaryIO, root: str) -> list[str]:
    """Apply the layer read from ``stream`` onto ``root``; returns the paths it wrote."""
    with Root(root) as r, tarfile.open(fileobj=stream, mode="r|*") as tar:
        return extract(tar, r, layer=True)


def apply_blob(blob: Blob, root: str, media_type: str = "", diff_id: str | None = None) -> list[str]:
    """Apply the layer blob read from ``blob`` (gzip, zstd or plain) onto ``root``; returns the paths
    it wrote. ``blob`` is read to its end, so a reader that checks a digest there has checked it when
    this returns; a tar whose sha256 is not ``diff_id`` raises ``SourceError``."""
    tar = _Hashing(decompressing(blob, media_type))
    try:
        with Root(root) as r, tarfile.open(fileobj=tar, mode="r|") as archive:
            written = extract(archive, r, layer=True)
        tar.drain()  # the end-of-archive padding is part of the diff ID
        while blob.read(1 << 20):
            pass
    except BaseException:
        if isinstance(blob, Follower):
            blob.stop()  # a decompressing thread waiting for more of the download gives up now
        raise
    finally:
        tar.close()
    if diff_id is not None and tar.digest != diff_id:
        raise SourceError(f"a layer's contents ({tar.digest}) are not what its image config says ({diff_id})")
    return written


class _Hashing(io.RawIOBase):
    """The tar stream, hashed as it is read."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        self._hash.update(data)
        buffer[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        self._stream.close()
        super().close()
