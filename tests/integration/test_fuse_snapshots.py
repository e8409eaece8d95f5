"""fuse-overlayfs snapshots, the fallback where the kernel cannot mount an overlay: the same trees,
the same layers byte for byte as kernel overlayfs gives, and whole builds on them. Kernel overlay
works on CI's machines, so these choose fuse-overlayfs explicitly (``BAKE_SNAPSHOTTER``, or the
class itself); CI's rootless pass runs them again as root in a user namespace."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.worker.copysnapshot import open_snapshotter
from bake.worker.differ import layer_bytes
from bake.worker.fusesnapshot import FuseSnapshotter, supported
from bake.worker.snapshot import Snapshotter

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not supported("/tmp"), reason="fuse-overlayfs missing or /dev/fuse not usable here")]


def three_layers(snaps: Snapshotter, mnt: Path) -> str:
    """A base, a child that deletes, replaces a directory (opaque) and adds, and a grandchild that
    reads through both, all made through mounts as RUN steps make them; returns the child."""
    mnt.mkdir(exist_ok=True)

    def step(parent: str | None, change: object) -> str:
        sid = snaps.prepare(parent)
        snaps.mount(sid, str(mnt))
        try:
            change()  # type: ignore[operator]
        finally:
            snaps.unmount(str(mnt))
        return snaps.commit(sid)

    def base() -> None:
        (mnt / "etc").mkdir()
        (mnt / "etc" / "passwd").write_text("root:x:0:0\n")
        (mnt / "etc" / "group").write_text("root:x:0:\n")
        (mnt / "cache").mkdir()
        (mnt / "cache" / "stale").write_text("old")
        os.chown(mnt / "cache" / "stale", 1000, 1000)

    def child() -> None:
        (mnt / "etc" / "passwd").unlink()
        for name in os.listdir(mnt / "cache"):
            (mnt / "cache" / name).unlink()
        (mnt / "cache").rmdir()
        (mnt / "cache").mkdir()  # a directory replaced: opaque
        (mnt / "cache" / "fresh").write_text("new")
        (mnt / "app").mkdir()
        (mnt / "app" / "out").write_text("built")

    return step(step(None, base), child)


def test_fuse_overlayfs_gives_the_kernel_overlays_layers_byte_for_byte(tmp_path: Path) -> None:
    kernel, fuse = Snapshotter(str(tmp_path / "kernel")), FuseSnapshotter(str(tmp_path / "fuse"))
    a = three_layers(kernel, tmp_path / "mnt")
    b = three_layers(fuse, tmp_path / "mnt")
    assert layer_bytes(fuse.upper(b), source_date_epoch=0) == layer_bytes(kernel.upper(a), source_date_epoch=0)
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(fuse.upper(b), source_date_epoch=0))) as t:
        names = sorted(m.name for m in t.getmembers())
    assert names == ["app", "app/out", "cache", "cache/.wh..wh..opq", "cache/fresh", "etc", "etc/.wh.passwd"]
    view = tmp_path / "view"
    view.mkdir()
    fuse.mount(fuse.prepare(b), str(view))  # the committed child as a lower dir, under a new upper
    try:
        assert sorted(os.listdir(view / "cache")) == ["fresh"]  # the opaque directory hides what was below
        assert sorted(os.listdir(view / "etc")) == ["group"]
    finally:
        fuse.unmount(str(view))


def test_a_build_on_fuse_overlayfs_makes_the_same_image_as_on_kernel_overlayfs(
        busybox_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "project"
    d.mkdir()
    (d / "docker-bake.hcl").write_text('target "default" {\n  output = ["type=oci,dest=image,tar=false,rewrite-timestamp=true"]\n}\n')
    (d / "Dockerfile").write_text(f"""
FROM {busybox_image}
RUN rm /etc/group && mkdir -p /srv/data && echo one > /srv/data/a && chown -R 1000:1000 /srv
USER 1000
RUN echo mine > /srv/data/b && rm /srv/data/a
USER 0
RUN rm -rf /srv/data && mkdir /srv/data && echo replaced > /srv/data/c
""")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    layers = {}
    for kind in ("overlay", "fuse-overlayfs"):
        monkeypatch.setenv("BAKE_SNAPSHOTTER", kind)
        root = tmp_path / kind
        (d / "image").mkdir(exist_ok=True)
        build(resolve(Request(cwd=str(d))), BuildOptions(root=str(root)))
        assert (root / "snapshots" / ".kind").read_text() == kind
        assert type(open_snapshotter(str(root))) is (FuseSnapshotter if kind == "fuse-overlayfs" else Snapshotter)
        index = json.loads((d / "image" / "index.json").read_text())
        manifest = index["manifests"][0]["digest"].split(":")[1]
        doc = json.loads((d / "image" / "blobs" / "sha256" / manifest).read_text())
        layers[kind] = [layer["digest"] for layer in doc["layers"]]
    assert len(layers["overlay"]) == 4 and layers["fuse-overlayfs"] == layers["overlay"]
