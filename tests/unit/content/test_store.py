"""The content store: addressed by sha256, atomic writes, verified reads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.content.store import ContentError, ContentStore


def test_write_read_roundtrip_and_dedupe(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    d = store.write(b"hello")
    assert d == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert store.read(d) == b"hello" and store.exists(d)
    assert store.write(b"hello") == d and store.digests() == [d]
    assert os.listdir(tmp_path / "ingest") == []


def test_expected_digest_mismatch_stores_nothing(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ContentError, match="does not match"):
        store.write_stream([b"a", b"b"], expected=wrong)
    assert store.digests() == [] and os.listdir(tmp_path / "ingest") == []


def test_a_failing_stream_leaves_no_partial_blob(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))

    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("network dropped")

    with pytest.raises(RuntimeError):
        store.write_stream(chunks())
    assert store.digests() == [] and os.listdir(tmp_path / "ingest") == []


def test_corruption_is_detected(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    d = store.write(b"data")
    Path(store.path(d)).write_bytes(b"evil")
    with pytest.raises(ContentError, match="corrupt"):
        store.read(d)
    assert store.read(d, verify=False) == b"evil"
    with pytest.raises(ContentError, match="not found"):
        store.read("sha256:" + "1" * 64)
    with pytest.raises(ContentError, match="invalid digest"):
        store.path("sha256:../../etc/passwd")
    assert store.delete(d) and not store.delete(d)
