"""Layer compression: gzip (the default, as BuildKit) and zstd, read by media type or magic bytes."""

from __future__ import annotations

import gzip
import os
import zlib

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def decompress(data: bytes, media_type: str = "") -> bytes:
    """A layer blob → its tar bytes (uncompressed blobs pass through)."""
    if media_type.endswith("+zstd") or data[:4] == ZSTD_MAGIC:
        with zstandard.ZstdDecompressor().stream_reader(data) as reader:  # frames without a content size too
            return reader.read()
    if media_type.endswith("gzip") or data[:2] == GZIP_MAGIC:
        return gzip.decompress(data)
    return data


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
