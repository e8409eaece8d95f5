"""Real overlayfs snapshots (root): chains, writable mounts, commits, read-only views, limits."""

from __future__ import annotations

import io
import os
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


def test_chains_too_deep_for_overlay_are_refused(snaps: Snapshotter, tmp_path: Path) -> None:
    sid = snaps.commit(snaps.prepare(None))
    for _ in range(MAX_LOWERS):
        sid = snaps.commit(snaps.prepare(sid))
    top = snaps.prepare(sid)
    with pytest.raises(SnapshotError, match="exceed overlayfs"):
        snaps.mount(top, str(tmp_path))
