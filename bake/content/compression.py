"""Layer compression: gzip (the default, as BuildKit) and zstd, read by media type or magic bytes.

Reading gzip goes through ISA-L (``isal``'s igzip: 2–3× zlib's speed) where it is installed, in a
thread of its own when streamed, so a layer decompresses while the previous bytes are unpacked.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import IO, BinaryIO, Protocol, cast

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def decompress(data: bytes, media_type: str = "") -> bytes:
    """A layer blob → its tar bytes (uncompressed blobs pass through)."""
    if media_type.endswith("+zstd") or data[:4] == ZSTD_MAGIC:
        with zstandard.ZstdDecompressor().stream_reader(data) as reader:  # frames without a content size too
            return reader.read()
    if media_type.endswith("gzip") or data[:2] == GZIP_MAGIC:
        try:
            from isal import igzip
        except ImportError:
            return gzip.decompress(data)
        return cast(bytes, igzip.decompress(data))  # type: ignore[no-untyped-call]
    return data


class Blob(Protocol):
    """What a layer blob is read through: the store's verified reader, a download's follower."""

    def read(self, size: int = -1, /) -> bytes | None: ...

    def close(self) -> None: ...


def decompressing(blob: Blob, media_type: str = "") -> BinaryIO:
    """A reader of the tar inside the blob read from ``blob`` (known by media type, else by its first
    bytes). Every gzip member and zstd frame is read; the decompressor reads what ``blob`` has
    (one ``readinto`` at a time), so a blob still downloading is decompressed as it arrives. The
    caller closes the reader (``blob`` stays open)."""
    raw = blob if isinstance(blob, io.RawIOBase) else _Raw(blob)
    head = b""
    while len(head) < 4 and (more := raw.read(4 - len(head))):
        head += more
    stream = _Prepended(head, raw)
    if media_type.endswith("+zstd") or head == ZSTD_MAGIC:
        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], stream),
                                                                         read_across_frames=True, closefd=False))
    if media_type.endswith("gzip") or head[:2] == GZIP_MAGIC:
        try:
            from isal import igzip_threaded
        except ImportError:
            return cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
        return cast(BinaryIO, igzip_threaded.open(stream, "rb", threads=1))  # type: ignore[no-untyped-call]
    return cast(BinaryIO, stream)


class _Raw(io.RawIOBase):
    """Any reader with ``read(n)`` as a raw stream."""

    def __init__(self, reader: Blob) -> None:
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._reader.read(len(buffer)) or b""
        buffer[:len(data)] = data
        return len(data)


class _Prepended(io.RawIOBase):
    """``head`` (bytes already read to recognise the blob), then the rest of ``raw``; closing it
    leaves ``raw`` open."""

    def __init__(self, head: bytes, raw: io.RawIOBase) -> None:
        super().__init__()
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._raw.readinto(buffer) or 0


GZIP_CHUNK = 1 << 20


def _level(chunk: bytes, level: int) -> int:
    """``level``, or 0 (stored) for a chunk whose sample does not compress at all (already
    compressed files, random data): deflating those costs most of the time and saves nothing.
    Decided from the bytes alone, so the output stays deterministic."""
    sample = chunk[:65536]
    return 0 if len(zlib.compress(sample, 1)) >= len(sample) * 0.98 else level


def compress(data: bytes, kind: str = "gzip", level: int | None = None) -> bytes:
    """Deterministic compression: no timestamps or names, and the same bytes whatever the number
    of cores. Large gzip layers are compressed in parallel as a series of gzip members (one per
    MiB; every gzip reader, Go's included, reads them as one stream); a member whose bytes do not
    compress is stored. zstd stays single-threaded:
    at ~120 MB/s it is not the bottleneck, and its worker mode would change the bytes."""
    if kind == "gzip":
        lvl = 6 if level is None else level
        if len(data) <= 4 * GZIP_CHUNK:
            return gzip.compress(data, compresslevel=lvl, mtime=0)
        from concurrent.futures import ThreadPoolExecutor

        chunks = [data[i:i + GZIP_CHUNK] for i in range(0, len(data), GZIP_CHUNK)]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # zlib releases the GIL
            return b"".join(pool.map(lambda c: gzip.compress(c, compresslevel=_level(c, lvl), mtime=0), chunks))
    if kind == "zstd":
        return zstandard.ZstdCompressor(level=3 if level is None else level).compress(data)
    if kind == "uncompressed":
        return data
    raise ValueError(f"unknown compression {kind!r} (gzip, zstd, uncompressed)")
