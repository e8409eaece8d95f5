"""The ``dockerd`` fixture: a private Docker engine (Debian's docker.io, with its built-in BuildKit)
for the ``docker`` driver and ``--load`` tests, started once per session by scripts/dockerd.sh on
its own socket and data root, and stopped at the end. It needs the ``registry`` fixture (of
tests/integration/conftest.py, where it is registered).

``BAKE_TEST_DOCKER_HOST=unix:///…/docker.sock`` uses an engine already running instead (the
example builds then need its docker.io mirror to serve busybox). Without
one, the engine needs real root: the tests skip, saying why, for an ordinary user and inside a
user namespace (CI's rootless pass; its root pass runs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dockerd.sh"


def _initial_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def _why_not() -> str:
    if os.geteuid() != 0:
        return "dockerd needs root: CI's root pass runs this test (or set BAKE_TEST_DOCKER_HOST)"
    if not _initial_user_namespace():
        return "dockerd cannot run in a user namespace (CI's rootless pass); CI's root pass runs this test"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed (scripts/setup.sh installs Debian's docker.io)"
    return ""


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory, registry: str) -> Iterator[str]:
    """``DOCKER_HOST`` of a private dockerd (``unix:///…/docker.sock``) whose docker.io mirror is the
    session's registry (so ``FROM busybox`` is the seeded busybox, as for bake with ``mirror_config``)."""
    given = os.environ.get("BAKE_TEST_DOCKER_HOST")
    if given:
        yield given
        return
    why = _why_not()
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("dockerd")
    started = subprocess.run(["bash", str(SCRIPT), "start", str(d), f"--registry-mirror=http://{registry}"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, f"scripts/dockerd.sh start failed:\n{started.stderr}"
    host = started.stdout.strip().rpartition("DOCKER_HOST=")[2]
    try:
        yield host
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(d)], capture_output=True, timeout=60)
