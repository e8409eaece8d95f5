"""``bake`` as processes: killed with -9 in the middle of a step, and two builds sharing one root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_build import project

HCL = 'variable "SLEEP" {\n  default = "0"\n}\ntarget "default" {\n  args = { SLEEP = SLEEP }\n}\n'


def bake(d: Path, root: Path, *args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bake", "--root", str(root), *args], cwd=d, text=True,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def containers(root: Path) -> list[str]:
    out = subprocess.run(["runc", "--root", str(root / "run/runtime"), "list", "-q"], capture_output=True, text=True)
    return out.stdout.split()


def test_a_build_killed_mid_step_is_cleaned_up_by_the_next_one(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, HCL, f"FROM {busybox_image}\nARG SLEEP\n"
                "RUN echo started; if [ \"$SLEEP\" = 1 ]; then sleep 60; fi; echo done > /done\n")
    root = tmp_path / "root"
    with bake(d, root, "--progress=rawjson", env={"SLEEP": "1"}) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "logged" and "RUN" in event["step"]["name"]:
                break
        else:
            pytest.fail(f"the build ended before its step ran: {proc.stderr.read() if proc.stderr else ''}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(containers(root)) == 1  # the killed build's container still runs…
    assert str(root) in Path("/proc/mounts").read_text()  # …on its mounted snapshot

    again = bake(d, root, "--progress=plain", env={"SLEEP": "0"})
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert containers(root) == []
    assert str(root) not in Path("/proc/mounts").read_text()
    assert [n for n in os.listdir(root / "run") if n.startswith("build-")] == []


def test_two_builds_sharing_a_root_both_succeed(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {}\n', f"FROM {busybox_image}\nCOPY app.txt /\n"
                "RUN sleep 1; head -c 8 /dev/urandom | od -An -tx1 > /random\nRUN cat /random\n", {"app.txt": "x"})
    root = tmp_path / "root"
    procs = [bake(d, root, "--progress=plain", "--set", f"*.output=type=local,dest=out{n}") for n in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert (d / "out1/app.txt").read_text() == (d / "out2/app.txt").read_text() == "x"
    assert (d / "out1/random").exists() and (d / "out2/random").exists()
    # the cache they share holds whole entries: a third build runs nothing
    third = bake(d, root, "--progress=rawjson")
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0, err
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["planned", "cached", "built", "noted"]


def test_a_failed_step_shows_its_output_and_dockerfile_lines(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "app" {}\n', f"FROM {busybox_image}\nWORKDIR /src\n"
                "RUN echo compiling >&2 && \\\n    echo 'error: missing semicolon' >&2 && exit 2\n")
    proc = bake(d, tmp_path / "root", "--progress=plain", "app")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    box = err[err.index("------\n"):]
    assert box.splitlines() == [
        "------",
        " > [stage-0 2/2] RUN echo compiling >&2 &&     echo 'error: missing semicolon' >&2 && exit 2:",
        "compiling",
        "error: missing semicolon",
        "------",
        "Dockerfile:3-4",
        "--------------------",
        "   1 |     FROM " + busybox_image,
        "   2 |     WORKDIR /src",
        "   3 | >>> RUN echo compiling >&2 && \\",
        "   4 | >>>     echo 'error: missing semicolon' >&2 && exit 2",
        "--------------------",
        "ERROR: target app: failed to solve: process \"/bin/sh -c echo compiling >&2 &&     echo 'error: missing "
        "semicolon' >&2 && exit 2\" did not complete successfully: exit code: 2",
    ]
    assert "#3 0." in err and "#3 ERROR: process" in err  # the plain progress numbered and timed it


def test_du_and_prune_commands(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {}\n', f"FROM {busybox_image}\nRUN echo x > /x\n")
    root = tmp_path / "root"
    with bake(d, root) as build:
        assert build.wait(timeout=60) == 0
    du = subprocess.run([sys.executable, "-m", "bake", "du", "--root", str(root)], capture_output=True, text=True)
    assert du.returncode == 0 and "cache entries: 2\n" in du.stdout
    pruned = subprocess.run([sys.executable, "-m", "bake", "prune", "--all", "--root", str(root)],
                            capture_output=True, text=True)
    assert pruned.returncode == 0 and pruned.stdout.startswith("Removed 2 cache entries and 2 snapshots")
    bad = subprocess.run([sys.executable, "-m", "bake", "prune", "--filter", "label=x", "--root", str(root)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "unsupported prune filter" in bad.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_build_and_cleans_up(busybox_image: str, tmp_path: Path, sig: signal.Signals) -> None:
    d = project(tmp_path, HCL, f"FROM {busybox_image}\nRUN echo started; sleep 60\n")
    root = tmp_path / "root"
    with bake(d, root, "--progress=rawjson") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "logged" and "RUN" in event["step"]["name"]:
                break
        proc.send_signal(sig)
        assert proc.wait(timeout=30) != 0
    assert containers(root) == []
    assert str(root) not in Path("/proc/mounts").read_text()
    assert [n for n in os.listdir(root / "run") if n.startswith("build-")] == []
