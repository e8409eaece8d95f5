"""Real overlayfs snapshots (root): chains, writable mounts, commits, read-only views, limits."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from bake.worker.copysnapshot import CopySnapshotter, open_snapshotter
from bake.worker.differ import layer_bytes
from bake.worker.errors import SnapshotError
from bake.worker.snapshot import MAX_LOWERS, Snapshotter

pytestmark = pytest.mark.root  # runc, overlayfs and loop mounts


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




def build_two_layers(snaps: Snapshotter, tmp_path: Path) -> str:
    """A base and a child made through mounts, as RUN steps make them; returns the child."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    base = snaps.prepare(None)
    snaps.mount(base, str(mnt))
    try:
        (mnt / "etc").mkdir()
        (mnt / "etc" / "passwd").write_text("root:x:0:0\n")
        (mnt / "etc" / "group").write_text("root:x:0:\n")
        (mnt / "tmp").mkdir()
        (mnt / "tmp" / "old").write_text("old")
        (mnt / "tmp" / "keep").write_text("same")
        os.symlink("old", mnt / "tmp" / "link")
    finally:
        snaps.unmount(str(mnt))
    child = snaps.prepare(snaps.commit(base))
    snaps.mount(child, str(mnt))
    try:
        (mnt / "etc" / "passwd").unlink()
        (mnt / "app").mkdir()
        (mnt / "app" / "out").write_text("built")
        (mnt / "tmp" / "old").chmod(0o600)
        (mnt / "tmp" / "link").unlink()
        os.symlink("keep", mnt / "tmp" / "link")
    finally:
        snaps.unmount(str(mnt))
    return snaps.commit(child)


def test_copy_snapshots_give_the_same_layers_as_overlay(tmp_path: Path) -> None:
    layers = []
    for kind in (Snapshotter, CopySnapshotter):
        snaps = kind(str(tmp_path / kind.__name__))
        child = build_two_layers(snaps, tmp_path)
        layers.append(layer_bytes(snaps.upper(child), source_date_epoch=0))
        view = tmp_path / "view"
        view.mkdir(exist_ok=True)
        snaps.mount(child, str(view), readonly=True)
        try:
            assert sorted(os.listdir(view / "etc")) == ["group"] and (view / "tmp" / "link").readlink() == Path("keep")
            with pytest.raises(OSError):
                (view / "new").write_text("x")
        finally:
            snaps.unmount(str(view))
    with tarfile.open(fileobj=io.BytesIO(layers[1])) as t:
        assert sorted(m.name for m in t.getmembers()) == ["app", "app/out", "etc", "etc/.wh.passwd", "tmp", "tmp/link",
                                                          "tmp/old"]
    assert layers[0] == layers[1]  # byte for byte


def test_the_snapshotter_is_chosen_by_probing_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bake.worker import copysnapshot, fusesnapshot

    assert type(open_snapshotter(str(tmp_path / "a"))) is Snapshotter  # this machine mounts overlays
    monkeypatch.setattr(copysnapshot, "overlay_supported", lambda directory: False)
    monkeypatch.setattr(fusesnapshot, "supported", lambda directory: False)
    assert type(open_snapshotter(str(tmp_path / "b"))) is CopySnapshotter


def test_a_hostile_layer_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    from bake.content import oci
    from bake.content.store import ContentStore
    from bake.worker.errors import UnsafeArchiveError
    from bake.worker.images import ImageStore

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        link = tarfile.TarInfo("shadow")
        link.type, link.linkname = tarfile.LNKTYPE, "../../etc/shadow"
        t.addfile(link)
    store = ContentStore(str(tmp_path / "content"))
    digest = store.write(buf.getvalue())
    layer = oci.Descriptor(oci.LAYER_TAR, digest, len(buf.getvalue()))
    images = ImageStore(str(tmp_path), store, Snapshotter(str(tmp_path)))
    with pytest.raises(UnsafeArchiveError, match="not in the root"):
        images.unpack(oci.manifest(oci.Descriptor(oci.CONFIG, digest, 1), [layer]), {})
    assert images.snapshots.ids() == []


def test_zstd_layers_unpack(tmp_path: Path) -> None:
    from bake.content import oci
    from bake.content.compression import compress
    from bake.content.store import ContentStore
    from bake.worker.images import ImageStore

    tree = tmp_path / "tree"
    (tree / "app").mkdir(parents=True)
    (tree / "app" / "main").write_text("zstd!")
    blob = compress(layer_bytes(str(tree), source_date_epoch=0), "zstd")
    store = ContentStore(str(tmp_path / "content"))
    digest = store.write(blob)
    images = ImageStore(str(tmp_path), store, Snapshotter(str(tmp_path)))
    top = images.unpack(oci.manifest(oci.Descriptor(oci.CONFIG, digest, 1), [oci.Descriptor(oci.LAYER_ZSTD, digest, len(blob))]), {})
    assert Path(images.snapshots.upper(top), "app", "main").read_text() == "zstd!"


def test_a_directory_lower_layers_hold_can_be_removed_and_made_again(snaps: Snapshotter, tmp_path: Path) -> None:
    """What `RUN rm -rf /srv/data && mkdir /srv/data` does on an image. In a user namespace the
    overlay must keep its marks in user.overlay.* xattrs (userxattr): it failed with EIO there."""
    base = snaps.prepare(None)
    Path(snaps.upper(base), "srv", "data").mkdir(parents=True)
    Path(snaps.upper(base), "srv", "data", "old").write_text("old")
    mid = snaps.prepare(snaps.commit(base))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    snaps.mount(mid, str(mnt))
    try:
        (mnt / "srv" / "data" / "more").write_text("more")
    finally:
        snaps.unmount(str(mnt))
    top = snaps.prepare(snaps.commit(mid))
    snaps.mount(top, str(mnt))
    try:
        for name in ("old", "more"):
            (mnt / "srv" / "data" / name).unlink()
        (mnt / "srv" / "data").rmdir()
        (mnt / "srv" / "data").mkdir()
        (mnt / "srv" / "data" / "new").write_text("new")
    finally:
        snaps.unmount(str(mnt))
    snaps.mount(snaps.commit(top), str(mnt), readonly=True)
    try:
        assert os.listdir(mnt / "srv" / "data") == ["new"]
    finally:
        snaps.unmount(str(mnt))
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(snaps.upper(top)))) as t:
        assert sorted(m.name for m in t.getmembers()) == ["srv", "srv/data", "srv/data/.wh..wh..opq", "srv/data/new"]
