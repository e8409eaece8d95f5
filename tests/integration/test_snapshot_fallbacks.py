"""The fallbacks where the kernel cannot mount an overlay — fuse-overlayfs snapshots, then copies:
the same trees, the same layers byte for byte as kernel overlayfs gives, and whole builds on them
(a build with copy snapshots failed on its first COPY before: the context, written straight into
a new snapshot's upper dir, never reached the copy that is mounted). Kernel overlay works on CI's
machines, so these choose the kind explicitly (``BAKE_SNAPSHOTTER``, or the class itself); CI's
rootless pass runs them again as root in a user namespace."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.worker.copysnapshot import CopySnapshotter, open_snapshotter
from bake.worker.differ import layer_bytes
from bake.worker.fusesnapshot import FuseSnapshotter, supported
from bake.worker.snapshot import Snapshotter

pytestmark = pytest.mark.root
fuse = pytest.mark.skipif(not supported("/tmp"), reason="fuse-overlayfs missing or /dev/fuse not usable here")


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


@fuse
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


def build_on(kind: str, d: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], dict[str, str]]:
    """Build the project on a new root of ``kind``: its image's layer digests, and the image's files."""
    monkeypatch.setenv("BAKE_SNAPSHOTTER", kind)
    (d / "image").mkdir(exist_ok=True)
    build(resolve(Request(cwd=str(d))), BuildOptions(root=str(root)))
    assert (root / "snapshots" / ".kind").read_text() == kind
    assert type(open_snapshotter(str(root))) is {"overlay": Snapshotter, "fuse-overlayfs": FuseSnapshotter,
                                                 "copy": CopySnapshotter}[kind]
    index = json.loads((d / "image" / "index.json").read_text())
    manifest = index["manifests"][0]["digest"].split(":")[1]
    doc = json.loads((d / "image" / "blobs" / "sha256" / manifest).read_text())
    tree = d / "tree"
    files = {str(p.relative_to(tree)): f"{p.stat().st_mode:o} {p.read_text() if p.is_file() else ''}"
             for p in sorted(tree.rglob("*")) if not p.is_symlink() and p.parts[len(tree.parts)] in ("srv", "etc")}
    return [layer["digest"] for layer in doc["layers"]], files


PROJECT_HCL = 'target "default" {\n  output = ["type=oci,dest=image,tar=false,rewrite-timestamp=true", "type=local,dest=tree"]\n}\n'
PROJECT = """
FROM {base}
RUN rm /etc/group && mkdir -p /srv/data && echo one > /srv/data/a && chown -R 1000:1000 /srv
USER 1000
RUN echo mine > /srv/data/b && rm /srv/data/a
USER 0
COPY conf /srv/conf
RUN rm -rf /srv/data && mkdir /srv/data && echo replaced > /srv/data/c
"""


@pytest.mark.parametrize("kind", [pytest.param("fuse-overlayfs", marks=fuse), "copy"])
def test_a_build_on_each_fallback_makes_the_image_kernel_overlayfs_makes(
        kind: str, busybox_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "project"
    d.mkdir()
    (d / "docker-bake.hcl").write_text(PROJECT_HCL)
    (d / "Dockerfile").write_text(PROJECT.format(base=busybox_image))
    (d / "conf").write_text("from the context\n")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    layers, files = build_on("overlay", d, tmp_path / "overlay", monkeypatch)
    assert len(layers) == 5 and files["srv/data/c"] == "100644 replaced\n" and "etc/group" not in files
    assert files["srv/conf"] == "100644 from the context\n"
    shutil.rmtree(d / "tree")
    other_layers, other_files = build_on(kind, d, tmp_path / kind, monkeypatch)
    assert other_files == files
    if kind == "fuse-overlayfs":
        assert other_layers == layers  # byte for byte
    else:  # a replaced directory is whiteouts of what it held, not an opaque one: a tree diff cannot tell
        assert other_layers[:4] == layers[:4] and other_layers[4] != layers[4]
