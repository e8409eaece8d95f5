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


def test_atomic_writes_from_many_threads_at_once(tmp_path: Path) -> None:
    """Each write has a temp file of its own: concurrent writers of one path never trip each other."""
    import threading

    from bake.content.atomic import write_atomic

    target = tmp_path / "index.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(50):
                write_atomic(str(target), f"writer {n}".encode())
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and target.read_text().startswith("writer ")
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]  # no temp file left behind


def test_atomic_writes_create_files_as_usual(tmp_path: Path) -> None:
    from bake.content.atomic import write_atomic

    old = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "meta.json"), b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "meta.json").stat().st_mode & 0o777 == 0o644
