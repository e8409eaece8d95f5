"""A committed snapshot is used only while it and its chain are whole; a damaged one is set aside
(and reported), and ids are never handed out twice. No mounts needed: these are records on disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bake.worker.errors import SnapshotError
from bake.worker.snapshot import Snapshotter


def chain(tmp_path: Path, n: int = 3) -> tuple[Snapshotter, list[str]]:
    snaps = Snapshotter(str(tmp_path))
    ids: list[str] = []
    for _ in range(n):
        ids.append(snaps.commit(snaps.prepare(ids[-1] if ids else None)))
    return Snapshotter(str(tmp_path)), ids  # a fresh one: nothing checked yet


def test_a_whole_chain_is_committed(tmp_path: Path) -> None:
    snaps, ids = chain(tmp_path)
    assert all(snaps.committed(s) for s in ids) and snaps.repaired == []
    assert snaps.chain(ids[-1]) == list(reversed(ids))


@pytest.mark.parametrize("damage", ["fs gone", "parent garbled", "parent is itself", "parent points elsewhere",
                                    "parent of the middle gone"])
def test_damage_sets_the_snapshot_and_what_rests_on_it_aside(damage: str, tmp_path: Path) -> None:
    snaps, (a, b, c) = chain(tmp_path)
    base = Path(snaps.dir)
    if damage == "fs gone":
        shutil.rmtree(base / b / "fs")
    elif damage == "parent garbled":
        (base / b / "parent").write_text("\x00garbage")
    elif damage == "parent is itself":
        (base / b / "parent").write_text(b)
    elif damage == "parent points elsewhere":
        (base / b / "parent").write_text(c)  # a cycle too: c → b → c
    else:
        shutil.rmtree(base / a)
    assert not snaps.committed(c)
    assert c not in snaps.ids() and b not in snaps.ids()
    assert any(p.endswith(f"{b}.broken") for p in snaps.broken())
    assert any("set aside" in r for r in snaps.repaired)
    if damage != "parent of the middle gone":
        assert snaps.committed(a)  # below the damage: still good


def test_a_garbled_parent_never_loops(tmp_path: Path) -> None:
    snaps, (a, _b, c) = chain(tmp_path)
    (Path(snaps.dir) / a / "parent").write_text(c)
    with pytest.raises(SnapshotError, match="damaged parent"):
        Snapshotter(str(tmp_path)).chain(c)


def test_an_old_empty_marker_is_still_trusted(tmp_path: Path) -> None:
    snaps, (a, b, c) = chain(tmp_path)
    for s in (a, b, c):
        (Path(snaps.dir) / s / "committed").write_bytes(b"")  # written by an older bake
    assert snaps.committed(c)


def test_active_snapshots_are_not_judged(tmp_path: Path) -> None:
    snaps, (a, _, _) = chain(tmp_path)
    active = snaps.prepare(a)
    assert not snaps.committed(active) and active in snaps.ids() and snaps.repaired == []


def test_ids_are_never_reused(tmp_path: Path) -> None:
    snaps, ids = chain(tmp_path)
    for s in reversed(ids):
        shutil.rmtree(os.path.join(snaps.dir, s))  # as prune does
    assert int(snaps.prepare(None)) == int(ids[-1]) + 1
    snaps2, more = chain(tmp_path / "other")
    shutil.rmtree(os.path.join(snaps2.dir, more[0], "fs"))
    assert not snaps2.committed(more[-1]) and snaps2.ids() == []
    os.unlink(os.path.join(snaps2.dir, ".last-id"))  # lost: the set-aside ones still count
    assert int(snaps2.prepare(None)) == int(more[-1]) + 1
