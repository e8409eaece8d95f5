"""Real overlayfs snapshots (root): chains, writable mounts, commits, read-only views, limits."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from bake.worker.differ import layer_bytes
from bake.worker.snapshot import MAX_LOWERS, SnapshotError, Snapshotter


@pytest.fixture
def snaps(tmp_path: Path) -> Snapshotter:
    return Snapshotter(str(tmp_path / "root"))


def test_chain_mount_commit_and_diff(snaps: Snapshotter, tmp_path: Path) -> None:
    base = snaps.prepare(None)
    Path(snaps.upper(base), "etc").mkdir()
    Path(snaps.upper(base), "etc", "passwd").write_text("root:x:0:0\n")
    Path(snaps.upper(base), "tmp").mkdir()
    Path(snaps.upper(base), "tmp", "old").write_text("old")
    snaps.commit(base)

    child = snaps.prepare(base)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    snaps.mount(child, str(mnt))
    try:
        assert (mnt / "etc" / "passwd").read_text() == "root:x:0:0\n"
        (mnt / "etc" / "passwd").unlink()
        (mnt / "app").mkdir()
        (mnt / "app" / "out").write_text("built")
    finally:
        snaps.unmount(str(mnt))
    snaps.commit(child)
    assert snaps.chain(child) == [child, base]

    with tarfile.open(fileobj=io.BytesIO(layer_bytes(snaps.upper(child)))) as t:
        assert sorted(m.name for m in t.getmembers()) == ["app", "app/out", "etc", "etc/.wh.passwd"]

    view = tmp_path / "view"
    view.mkdir()
    snaps.mount(child, str(view), readonly=True)
    try:
        assert sorted(os.listdir(view)) == ["app", "etc", "tmp"]
        assert not (view / "etc" / "passwd").exists()
        with pytest.raises(OSError):
            (view / "new").write_text("x")  # read-only
    finally:
        snaps.unmount(str(view))


def test_rules(snaps: Snapshotter) -> None:
    a = snaps.prepare(None)
    with pytest.raises(SnapshotError, match="not committed"):
        snaps.prepare(a)
    snaps.commit(a)
    b = snaps.commit(snaps.prepare(a))
    with pytest.raises(SnapshotError, match="has children"):
        snaps.remove(a)
    snaps.remove(b)
    snaps.remove(a)
    assert snaps.ids() == []


def test_chains_deeper_than_overlay_allows_mount_through_shared_flattened_copies(snaps: Snapshotter, tmp_path: Path) -> None:
    depth = MAX_LOWERS + 100
    sid = snaps.prepare(None)
    Path(snaps.upper(sid), "gone").write_text("deleted later")
    for i in range(depth):
        snaps.commit(sid)
        sid = snaps.prepare(sid)
        Path(snaps.upper(sid), f"f{i}").write_text(str(i))
    os.mknod(Path(snaps.upper(sid), "gone"), stat.S_IFCHR, 0)  # an overlay whiteout
    top = snaps.commit(sid)

    child = snaps.prepare(top)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    snaps.mount(child, str(mnt))
    try:
        names = set(os.listdir(mnt))
        assert names == {f"f{i}" for i in range(depth)}
        assert (mnt / "f0").read_text() == "0" and (mnt / f"f{depth - 1}").read_text() == str(depth - 1)
        (mnt / "new").write_text("x")
    finally:
        snaps.unmount(str(mnt))
    assert os.listdir(snaps.upper(child)) == ["new"]  # the changes still land in the child alone

    count = len(snaps.ids())
    assert count == (depth + 1) + 1 + 2  # the chain, the child, flattened copies at depths 256 and 512
    sibling = snaps.prepare(top)
    snaps.mount(sibling, str(mnt), readonly=True)
    snaps.unmount(str(mnt))
    assert len(snaps.ids()) == count + 1  # the flattened copies are reused, only the sibling is new


