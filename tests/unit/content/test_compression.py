"""Layer compression: deterministic output, and blobs recognised by media type or by their bytes."""

from __future__ import annotations

import pytest

from bake.content.compression import GZIP_MAGIC, ZSTD_MAGIC, compress, decompress

TAR = b"layer bytes " * 1000


@pytest.mark.parametrize(("kind", "magic"), [("gzip", GZIP_MAGIC), ("zstd", ZSTD_MAGIC), ("uncompressed", b"laye")])
def test_round_trips_are_deterministic(kind: str, magic: bytes) -> None:
    packed = compress(TAR, kind)
    assert packed == compress(TAR, kind) and packed.startswith(magic)
    assert decompress(packed) == TAR  # recognised by its bytes
    assert decompress(packed, f"application/vnd.oci.image.layer.v1.tar+{kind}" if kind != "uncompressed" else "") == TAR


def test_zstd_frames_without_a_content_size_decompress() -> None:
    import io

    import zstandard

    out = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(out, closefd=False) as w:  # streamed: no size in the header
        w.write(TAR)
    assert decompress(out.getvalue()) == TAR


def test_unknown_compression() -> None:
    with pytest.raises(ValueError, match="unknown compression 'lz4'"):
        compress(TAR, "lz4")


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_large_layers_compress_in_parallel_to_the_same_bytes_every_time(kind: str) -> None:
    import gzip
    import random

    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(1 << 16)) * 100 + b"\0" * (3 << 20)  # ~9.5 MiB
    packed = compress(data, kind)
    assert packed == compress(data, kind) and decompress(packed) == data
    if kind == "gzip":
        assert gzip.decompress(packed) == data  # a series of members reads as one stream


def test_chunks_that_do_not_compress_are_stored_and_the_rest_deflated() -> None:
    import os

    noise = os.urandom(5 << 20)
    text = b"the same line again\n" * (5 << 16)  # ~6.5 MiB that deflates to almost nothing
    packed = compress(noise + text, "gzip")
    assert decompress(packed) == noise + text
    assert len(noise) < len(packed) < len(noise) + len(text) // 50  # noise kept as is, text squeezed
