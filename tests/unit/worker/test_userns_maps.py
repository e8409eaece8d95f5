"""Id maps written from outside into a process that entered a user namespace, and how a process
tells it runs in one — with real namespaces (util-linux ``unshare``), as the rootless mode uses them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.worker.userns import IdMaps, map_ids

pytestmark = [pytest.mark.root, pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")]


@pytest.fixture
def in_new_namespace() -> Iterator[int]:
    """The pid of a process that has entered a user namespace of its own, with no maps yet."""
    proc = subprocess.Popen(["unshare", "--user", "sleep", "60"])
    try:
        ours = os.readlink("/proc/self/ns/user")
        for _ in range(500):  # until unshare(1) has entered it and exec'd sleep
            if os.readlink(f"/proc/{proc.pid}/ns/user") != ours and \
                    Path(f"/proc/{proc.pid}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.01)
        else:
            pytest.fail("unshare --user did not start")
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_single_id_map_is_written_with_setgroups_denied(in_new_namespace: int) -> None:
    pid = in_new_namespace
    map_ids(pid, IdMaps(((0, 1000, 1),), ((0, 1001, 1),), False))
    assert Path(f"/proc/{pid}/uid_map").read_text().split() == ["0", "1000", "1"]
    assert Path(f"/proc/{pid}/gid_map").read_text().split() == ["0", "1001", "1"]
    assert Path(f"/proc/{pid}/setgroups").read_text().strip() == "deny"  # needed before an unprivileged gid map


def test_a_process_tells_whether_it_runs_in_a_user_namespace() -> None:
    code = "from bake.worker.userns import in_user_namespace; print(in_user_namespace())"
    inside = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-c", code],
                            capture_output=True, text=True, check=True)
    assert inside.stdout.strip() == "True"
