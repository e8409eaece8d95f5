"""A blob written as it downloads: readers follow it while it grows, end only once it is committed
(digest and size checked), and hear at once when it fails."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from bake.content.store import ContentError, ContentStore

DATA = os.urandom(1 << 20)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def reading(follower: object) -> tuple[threading.Thread, dict[str, object]]:
    """Read ``follower`` to its end in a thread; the result (bytes or the error) lands in ``out``."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["data"] = follower.readall()  # type: ignore[attr-defined]
        except Exception as err:
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_follower_reads_while_the_blob_is_written_and_ends_after_the_commit(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    ingest = store.ingesting(DIGEST, len(DATA))
    ingest.write(DATA[:1000])
    follower = ingest.follow()
    assert follower.read(5000) == DATA[:1000]  # what is there now, without waiting for the rest
    thread, out = reading(follower)
    ingest.write(DATA[1000:])
    thread.join(0.2)
    assert thread.is_alive()  # every byte is written, but the digest is not checked yet
    ingest.commit()
    thread.join(5)
    assert out == {"data": DATA[1000:]}
    assert store.read(DIGEST) == DATA and os.listdir(tmp_path / "ingest") == []
    assert ingest.follow().readall() == DATA  # following a committed blob reads the stored copy


def test_wrong_bytes_fail_every_follower_and_store_nothing(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    ingest = store.ingesting(DIGEST)
    thread, out = reading(ingest.follow())
    ingest.write(b"not the blob")
    with pytest.raises(ContentError, match="does not match"):
        ingest.commit()
    thread.join(5)
    assert isinstance(out["error"], ContentError) and "does not match" in str(out["error"])
    assert not store.exists(DIGEST) and os.listdir(tmp_path / "ingest") == []


def test_an_abandoned_download_wakes_a_waiting_follower(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    ingest = store.ingesting(DIGEST, len(DATA))
    ingest.write(DATA[:10])
    follower = ingest.follow()
    assert follower.read(10) == DATA[:10]
    thread, out = reading(follower)
    thread.join(0.1)
    assert thread.is_alive()
    ingest.abort("the connection dropped")
    thread.join(5)
    assert "the connection dropped" in str(out["error"])
    with pytest.raises(ContentError, match="the connection dropped"):
        ingest.follow()
    assert os.listdir(tmp_path / "ingest") == []


def test_more_bytes_than_the_descriptor_says_fail_at_once(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    ingest = store.ingesting(DIGEST, 10)
    follower = ingest.follow()
    with pytest.raises(ContentError, match="more than the 10 bytes"):
        ingest.write(DATA[:11])
    with pytest.raises(ContentError, match="more than the 10 bytes"):
        follower.read(1)
    short = store.ingesting(DIGEST, len(DATA) + 1)
    short.write(DATA)
    with pytest.raises(ContentError, match="bytes where its descriptor says"):
        short.commit()  # right digest, wrong size: not stored either
    assert not store.exists(DIGEST)


def test_stopping_a_follower_wakes_its_reader_and_leaves_the_download_alone(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    ingest = store.ingesting(DIGEST)
    follower = ingest.follow()
    thread, out = reading(follower)
    thread.join(0.1)
    follower.stop()
    thread.join(5)
    assert isinstance(out["error"], ValueError)
    ingest.write(DATA)
    assert ingest.commit() == DIGEST and store.read(DIGEST) == DATA


def test_an_ingest_left_by_a_failing_block_is_removed(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    with pytest.raises(RuntimeError), store.ingesting(DIGEST) as ingest:
        ingest.write(DATA[:100])
        raise RuntimeError("cancelled")
    assert os.listdir(tmp_path / "ingest") == [] and not store.exists(DIGEST)
    with pytest.raises(ContentError, match="invalid digest"):
        store.ingesting("sha256:../../etc/passwd")
