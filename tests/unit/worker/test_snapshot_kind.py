"""Which snapshotter a state root uses is decided once and remembered, so a process that cannot
mount overlayfs (an ordinary user outside its namespace) never mistakes overlay snapshots for
damaged copy snapshots — and sets a whole cache aside. Kernel overlayfs is preferred, then
fuse-overlayfs, then copies; ``prefer`` ($BAKE_SNAPSHOTTER) picks one for a new root."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.worker.copysnapshot import snapshot_kind
from bake.worker.errors import SnapshotError


class Probe:
    """What mounts here, as the probe answers: the first of ``works`` in preference order (only
    ``kind`` when asked for one); counts its calls."""

    def __init__(self, *works: str) -> None:
        self.works = works
        self.calls = 0

    def __call__(self, directory: str, kind: str | None = None) -> str:
        self.calls += 1
        for candidate in ("overlay", "fuse-overlayfs", "copy"):
            if candidate in self.works and kind in (None, candidate):
                return candidate
        raise SnapshotError(f"BAKE_SNAPSHOTTER={kind}: such snapshots cannot be mounted here")


def test_the_kind_is_remembered_and_existing_snapshots_decide_it(tmp_path: Path) -> None:
    cannot_mount = Probe("copy")
    overlay = tmp_path / "overlay"
    (overlay / "1" / "fs").mkdir(parents=True)  # made by a build that could mount: an upper dir only
    assert snapshot_kind(str(overlay), cannot_mount) == "overlay" and cannot_mount.calls == 0
    assert (overlay / ".kind").read_text() == "overlay"
    copies = tmp_path / "copies"
    (copies / "1" / "full").mkdir(parents=True)
    assert snapshot_kind(str(copies), Probe("overlay", "copy")) == "copy"
    (copies / ".kind").write_text("overlay")  # the record wins over what the directory looks like
    assert snapshot_kind(str(copies), cannot_mount) == "overlay"
    fresh = tmp_path / "fresh"
    assert snapshot_kind(str(fresh), Probe("overlay", "copy")) == "overlay"
    assert (fresh / ".kind").read_text() == "overlay"


def test_fuse_overlayfs_is_the_fallback_where_the_kernel_cannot_mount_an_overlay(tmp_path: Path) -> None:
    assert snapshot_kind(str(tmp_path / "a"), Probe("fuse-overlayfs", "copy")) == "fuse-overlayfs"
    assert (tmp_path / "a" / ".kind").read_text() == "fuse-overlayfs"
    assert snapshot_kind(str(tmp_path / "a"), Probe("overlay", "copy")) == "fuse-overlayfs"  # remembered
    assert snapshot_kind(str(tmp_path / "b"), Probe("copy")) == "copy"


def test_a_new_root_takes_the_preferred_kind_if_it_works_here(tmp_path: Path) -> None:
    everything = Probe("overlay", "fuse-overlayfs", "copy")
    assert snapshot_kind(str(tmp_path / "a"), everything, "fuse-overlayfs") == "fuse-overlayfs"
    assert snapshot_kind(str(tmp_path / "a"), everything, "copy") == "fuse-overlayfs"  # a root keeps its kind
    with pytest.raises(SnapshotError, match="cannot be mounted here"):
        snapshot_kind(str(tmp_path / "b"), Probe("overlay", "copy"), "fuse-overlayfs")
    with pytest.raises(SnapshotError, match="expected one of overlay, fuse-overlayfs, copy"):
        snapshot_kind(str(tmp_path / "c"), everything, "aufs")
