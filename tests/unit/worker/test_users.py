"""``USER`` specs to ids, read from the image's own /etc/passwd and /etc/group (BuildKit's rules),
and the root-in-a-user-namespace hints an ordinary user gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.worker.errors import UserError
from bake.worker.userns import IdMaps, missing_range_hint
from bake.worker.users import resolve_user

PASSWD = """# comment line
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000::/home/app:/bin/sh
short:x:7
badgid:x:1001:none::/:/bin/sh
svc:x:1002:1002::/:/bin/sh
"""
GROUP = """root:x:0:
app:x:1000:
docker:x:999:app,svc
wheel:x:10:app
garbled:x:nope:app
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return str(tmp_path)


def test_a_name_gets_its_primary_group_and_the_groups_listing_it(rootfs: str) -> None:
    assert resolve_user(rootfs, "app") == (1000, 1000, (1000, 10, 999))
    assert resolve_user(rootfs, "svc") == (1002, 1002, (1002, 999))


def test_no_user_is_root(rootfs: str) -> None:
    assert resolve_user(rootfs, "") == (0, 0, (0,))


def test_an_explicit_group_replaces_the_group_list(rootfs: str) -> None:
    assert resolve_user(rootfs, "app:docker") == (1000, 999, (999,))
    assert resolve_user(rootfs, "app:4242") == (1000, 4242, (4242,))
    assert resolve_user(rootfs, "1000:1000") == (1000, 1000, (1000,))


def test_an_id_passwd_does_not_know_gets_group_0_for_a_process_and_its_own_for_chown(rootfs: str) -> None:
    assert resolve_user(rootfs, "4242") == (4242, 0, (0,))
    assert resolve_user(rootfs, "4242", chown=True) == (4242, 4242, (4242,))
    assert resolve_user(rootfs, "1000") == (1000, 1000, (1000, 10, 999))  # a known id is its entry


def test_malformed_lines_are_skipped(rootfs: str) -> None:
    with pytest.raises(UserError, match="unable to find user short"):
        resolve_user(rootfs, "short")
    with pytest.raises(UserError, match="unable to find user badgid"):
        resolve_user(rootfs, "badgid")
    with pytest.raises(UserError, match="unable to find group garbled"):
        resolve_user(rootfs, "app:garbled")


def test_unknown_names_fail_a_process(rootfs: str) -> None:
    with pytest.raises(UserError, match="unable to find user nobody: no matching entries in passwd file"):
        resolve_user(rootfs, "nobody")
    with pytest.raises(UserError, match="unable to find group staff: no matching entries in group file"):
        resolve_user(rootfs, "app:staff")


def test_an_image_without_passwd_knows_ids_only(tmp_path: Path) -> None:
    assert resolve_user(str(tmp_path), "33:33") == (33, 33, (33,))
    with pytest.raises(UserError, match="unable to find user www-data"):
        resolve_user(str(tmp_path), "www-data")


def test_the_hint_for_a_missing_range_names_the_user_and_what_to_run() -> None:
    assert missing_range_hint(IdMaps(((0, 0, 1), (1, 100000, 65536)), ((0, 0, 1),), True)) == ""
    hint = missing_range_hint(IdMaps(((0, 0, 1),), ((0, 0, 1),), False))
    assert hint.startswith("building as root maps only your own id")
    assert "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 root" in hint
    unknown = missing_range_hint(IdMaps(((0, 987654, 1),), ((0, 987654, 1),), False))
    assert "building as 987654 " in unknown  # an id without a passwd entry is named by number
