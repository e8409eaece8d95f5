"""Which snapshotter a state root uses is decided once and remembered, so a process that cannot
mount overlayfs (an ordinary user outside its namespace) never mistakes overlay snapshots for
damaged copy snapshots — and sets a whole cache aside."""

from __future__ import annotations

from pathlib import Path

from bake.worker.copysnapshot import snapshot_kind


def test_the_kind_is_remembered_and_existing_snapshots_decide_it(tmp_path: Path) -> None:
    calls: list[str] = []

    def cannot_mount(path: str) -> bool:
        calls.append(path)
        return False

    overlay = tmp_path / "overlay"
    (overlay / "1" / "fs").mkdir(parents=True)  # made by a build that could mount: an upper dir only
    assert snapshot_kind(str(overlay), cannot_mount) == "overlay" and calls == []
    assert (overlay / ".kind").read_text() == "overlay"
    copies = tmp_path / "copies"
    (copies / "1" / "full").mkdir(parents=True)
    assert snapshot_kind(str(copies), lambda p: True) == "copy"
    (copies / ".kind").write_text("overlay")  # the record wins over what the directory looks like
    assert snapshot_kind(str(copies), cannot_mount) == "overlay"
    fresh = tmp_path / "fresh"
    assert snapshot_kind(str(fresh), lambda p: True) == "overlay" and (fresh / ".kind").read_text() == "overlay"
