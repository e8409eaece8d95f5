"""`bake` as an ordinary user, through the command line: the build runs in a user-namespace child
and everything comes back as from a root build. Root's test pass skips these; CI's rootless pass
(scripts/test-rootless.sh) runs them as the unprivileged user it creates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() == 0, reason="runs as an ordinary user (CI's rootless pass)")


def bake(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bake", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "BAKE_ROOT": str(cwd.parent / "root")})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


def test_an_ordinary_user_builds_runs_and_prunes(busybox_image: str, project: Path) -> None:
    tmp_path = project
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  output = ["type=local,dest=out"]\n}\n')
    (tmp_path / "Dockerfile").write_text(f"""
FROM {busybox_image}
COPY --chown=app:app hello /home/app/hello
RUN id -u > /uid && stat -c %u:%g /home/app/hello > /owner && touch /made
RUN --network=none ls /sys/class/net > /nets
""")
    (tmp_path / "hello").write_text("hi\n")
    r = bake(tmp_path, "--progress=plain")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert (out / "uid").read_text() == "0\n" and (out / "owner").read_text() == "1000:1000\n"
    assert (out / "nets").read_text().split() == ["lo"]
    assert {p.stat().st_uid for p in out.rglob("*")} == {os.getuid()}  # the user's own files, whatever the image says
    again = bake(tmp_path, "--progress=plain")
    assert again.returncode == 0 and "CACHED" in again.stderr
    du = bake(tmp_path, "du")
    assert du.returncode == 0 and "snapshots:" in du.stdout
    pruned = bake(tmp_path, "prune", "-a")
    assert pruned.returncode == 0, pruned.stderr
    assert not [p for p in (tmp_path.parent / "root" / "snapshots").iterdir() if p.name.isdigit()]


def test_a_failing_step_is_reported_as_from_a_root_build(busybox_image: str, project: Path) -> None:
    tmp_path = project
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo it broke; exit 3\n")
    r = bake(tmp_path, "--progress=plain")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "exit code: 3" in r.stderr and "it broke" in r.stderr and "Dockerfile:2" in r.stderr


def bake_without_a_child(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bake`` whose user-namespace child can do nothing (the fork exits at once): what it still
    does, it did without the namespace."""
    code = ("import runpy, sys; import bake.app.rootless as r; r._serve = lambda inp, out: 1; "
            f"sys.argv = ['bake', *{list(args)!r}]; runpy.run_module('bake', run_name='__main__', alter_sys=True)")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "BAKE_ROOT": str(cwd.parent / "root")})


def test_a_warm_rebuild_with_its_outputs_in_place_needs_no_child(busybox_image: str, project: Path) -> None:
    (project / "docker-bake.hcl").write_text('target "default" {\n  output = ["type=local,dest=out"]\n}\n')
    (project / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY hello /hello\nRUN cp /hello /copy\n")
    (project / "hello").write_text("hi\n")
    assert bake(project, "--progress=plain").returncode == 0
    warm = bake_without_a_child(project, "--progress=plain")
    assert warm.returncode == 0, warm.stderr
    assert "CACHED" in warm.stderr and "exporting to directory out" in warm.stderr
    (project / "out" / "copy").write_text("changed\n")
    assert bake_without_a_child(project, "--progress=plain").returncode != 0  # must be written again: the child
    assert bake(project, "--progress=plain").returncode == 0
    assert (project / "out" / "copy").read_text() == "hi\n"
    (project / "hello").write_text("hello\n")
    assert bake_without_a_child(project, "--progress=plain").returncode != 0  # a miss: the child


def test_ctrl_c_in_tty_mode_stops_the_child_and_leaves_the_final_view(busybox_image: str, project: Path) -> None:
    """As with root (test_tty_cancel.py): the interrupt reaches the build in the namespace once, its
    CANCELED step comes back before bake exits, and neither process prints a traceback."""
    from tests.integration.test_tty_cancel import run_in_terminal, screen_of

    (project / "docker-bake.hcl").write_text('target "default" {}\n')
    (project / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo started && sleep 60\n")
    code, output = run_in_terminal(project, project.parent / "root", b"started")
    lines = screen_of(output)
    text = "\n".join(lines)
    assert code == 130, text
    assert [ln for ln in lines if ln.startswith("[+] Building")] == [lines[0]], text
    assert any("=> CANCELED [2/2] RUN echo started && sleep 60" in ln for ln in lines), text
    assert "Traceback" not in output.decode(errors="replace")
