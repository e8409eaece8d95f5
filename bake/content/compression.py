"""Layer compression: gzip (the default, as BuildKit) and zstd, read by media type or magic bytes."""

from __future__ import annotations

import gzip

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


def compress(data: bytes, kind: str = "gzip", level: int | None = None) -> bytes:
    """Deterministic compression: no timestamps or names in the output."""
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6 if level is None else level, mtime=0)
    if kind == "zstd":
        return zstandard.ZstdCompressor(level=3 if level is None else level).compress(data)
    if kind == "uncompressed":
        return data
    raise ValueError(f"unknown compression {kind!r} (gzip, zstd, uncompressed)")
