"""The id maps an ordinary user's builds get: the user's own id as root, plus its subordinate
ranges where the host gives them (and newuidmap can write them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bake.worker.userns import IdMaps, plan_maps, ranges


def test_ranges_are_found_by_name_or_id(tmp_path: Path) -> None:
    sub = tmp_path / "subuid"
    sub.write_text("alice:100000:65536\n1001:300000:1000\nbob:200000:65536\nbroken:line\n")
    assert ranges(str(sub), "alice", 1000) == [(100000, 65536)]
    assert ranges(str(sub), "carol", 1001) == [(300000, 1000)]
    assert ranges(str(tmp_path / "missing"), "alice", 1000) == []


def test_a_user_with_ranges_maps_them_after_its_own_id(tmp_path: Path) -> None:
    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        pytest.skip("uidmap is not installed")
    (tmp_path / "subuid").write_text("root:100000:65536\nroot:300000:10\n")
    (tmp_path / "subgid").write_text("root:100000:65536\n")
    maps = plan_maps(0, 0, str(tmp_path / "subuid"), str(tmp_path / "subgid"))
    assert maps == IdMaps(((0, 0, 1), (1, 100000, 65536), (65537, 300000, 10)), ((0, 0, 1), (1, 100000, 65536)), True)


def test_without_ranges_only_the_users_own_id_is_mapped(tmp_path: Path) -> None:
    maps = plan_maps(1234, 5678, str(tmp_path / "none"), str(tmp_path / "none"))
    assert maps == IdMaps(((0, 1234, 1),), ((0, 5678, 1),), False)
