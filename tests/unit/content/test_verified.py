"""Bytes leaving the store are checked: streamed reads, writes over a damaged copy, state files,
a full disk, and the temp files a killed writer leaves."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from bake.content.atomic import NoSpaceError, atomic_file, disk_full_is_an_error, stale_temporary, temp_name
from bake.content.jsonstate import is_descriptor, load_map
from bake.content.store import ContentError, ContentStore, CorruptContent

DATA = os.urandom(3 << 20)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def stored(tmp_path: Path) -> ContentStore:
    store = ContentStore(str(tmp_path))
    assert store.write(DATA) == DIGEST
    return store


def test_a_whole_blob_streams_out(tmp_path: Path) -> None:
    store = stored(tmp_path)
    out = io.BytesIO()
    with store.open(DIGEST, len(DATA)) as blob:
        shutil.copyfileobj(blob, out, 1 << 16)
        blob.finish()
    assert out.getvalue() == DATA


@pytest.mark.parametrize("damage", ["halve", "flip", "grow"])
def test_a_damaged_blob_fails_the_stream(damage: str, tmp_path: Path) -> None:
    store = stored(tmp_path)
    path = Path(store.path(DIGEST))
    data = bytearray(DATA)
    if damage == "halve":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) - 10] ^= 1  # late in the file: found only at the end of the stream
    else:
        data += b"x"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptContent, match="is corrupt") as info, store.open(DIGEST, len(DATA)) as blob:
        shutil.copyfileobj(blob, io.BytesIO(), 1 << 16)
        blob.finish()
    assert info.value.digest == DIGEST and info.value.path == str(path)


def test_a_blob_truncated_while_it_is_read_fails(tmp_path: Path) -> None:
    store = stored(tmp_path)
    with pytest.raises(CorruptContent, match="truncated"), store.open(DIGEST) as blob:
        blob.read(1000)
        os.truncate(store.path(DIGEST), 2000)
        blob.finish()


def test_a_tar_of_a_damaged_blob_is_never_completed(tmp_path: Path) -> None:
    """What the OCI exporters do: the member's size comes from the descriptor, bytes are hashed."""
    store = stored(tmp_path)
    raw = bytearray(Path(store.path(DIGEST)).read_bytes())
    raw[5] ^= 0xFF
    Path(store.path(DIGEST)).write_bytes(bytes(raw))
    with (pytest.raises(CorruptContent), tarfile.open(fileobj=io.BytesIO(), mode="w|") as tar,
          store.open(DIGEST, len(DATA)) as blob):
        info = tarfile.TarInfo("blob")
        info.size = blob.size
        tar.addfile(info, blob)  # type: ignore[arg-type]
        blob.finish()


def test_an_empty_blob_is_checked_too(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    empty = store.write(b"")
    Path(store.path(empty)).write_bytes(b"")
    with store.open(empty, 0) as blob:
        blob.finish()  # whole
    other = "sha256:" + hashlib.sha256(b"x").hexdigest()
    os.rename(store.path(empty), store.path(other))
    Path(store.path(other)).write_bytes(b"")
    with pytest.raises(CorruptContent), store.open(other) as blob:
        blob.finish()


def test_writing_a_blob_again_replaces_a_damaged_copy(tmp_path: Path) -> None:
    store = stored(tmp_path)
    Path(store.path(DIGEST)).write_bytes(b"evil")
    assert not store.verify(DIGEST)
    assert store.write(DATA) == DIGEST
    assert store.verify(DIGEST) and store.read(DIGEST) == DATA


def test_drop_removes_and_remembers(tmp_path: Path) -> None:
    store = stored(tmp_path)
    store.drop(DIGEST, "a test")
    assert not store.exists(DIGEST) and len(store.repaired) == 1 and DIGEST in store.repaired[0]
    store.drop(DIGEST)  # gone already: nothing more to say
    assert len(store.repaired) == 1
    with pytest.raises(ContentError, match="not found"):
        store.open(DIGEST)


def test_temp_files_name_their_writer(tmp_path: Path) -> None:
    mine = temp_name(str(tmp_path / "index.json"))
    assert not stale_temporary(os.path.basename(mine))
    dead = f"index.json.{2 ** 22 + 77}.1.2.tmp"  # above the default pid_max
    assert stale_temporary(dead) and not stale_temporary("index.json") and not stale_temporary("x.tmp")
    store = ContentStore(str(tmp_path))
    os.makedirs(store.ingest)
    (Path(store.ingest) / f"blob.{2 ** 22 + 77}.1.2.tmp").write_bytes(b"half")
    (Path(store.ingest) / os.path.basename(temp_name("blob"))).write_bytes(b"live")
    assert store.sweep() == 1 and len(os.listdir(store.ingest)) == 1


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.tar"

    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with (pytest.raises(NoSpaceError, match=f"no space left on device while writing {target}"),
          atomic_file(str(target)) as f):
        f.write(b"x")
        Full().write(b"y")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NoSpaceError, match=r"the cache \(/x\)"), disk_full_is_an_error("/x", "the cache"):
        raise OSError(errno.EDQUOT, "quota")
    with pytest.raises(PermissionError), disk_full_is_an_error("/x"):
        raise PermissionError(errno.EACCES, "no")


@pytest.mark.parametrize("text", ["[1]", '"x"', "{", "\xff", "null", '{"a": 1}'])
def test_state_of_the_wrong_shape_is_a_miss(text: str, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(text.encode("latin-1"))
    notes: list[str] = []
    data, damaged = load_map(str(path), lambda _k, v: isinstance(v, str), notes)
    assert data == {} and damaged and len(notes) == 1 and str(path) in notes[0]


def test_good_entries_of_a_partly_damaged_map_survive(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    good = {"mediaType": "m", "digest": DIGEST, "size": 3}
    path.write_text(f'{{"a": {__import__("json").dumps(good)}, "b": {{"digest": "sha256:zz"}}, "c": 1}}')
    data, damaged = load_map(str(path), lambda _k, v: is_descriptor(v))
    assert data == {"a": good} and damaged
    assert load_map(str(tmp_path / "missing.json"), lambda _k, v: True) == ({}, False)
