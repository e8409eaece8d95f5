"""``bake`` as processes: killed with -9 in the middle of a step, and two builds sharing one root."""

from __future__ import annotations

import base64
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


@pytest.mark.root
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
        " > [3/3] RUN echo compiling >&2 &&     echo 'error: missing semicolon' >&2 && exit 2:",
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


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell without job control starts `bake … &`


@pytest.mark.parametrize(("sig", "sigint_ignored"), [(signal.SIGTERM, False), (signal.SIGINT, False),
                                                     (signal.SIGTERM, True)])
def test_a_signal_stops_the_build_and_cleans_up(busybox_image: str, tmp_path: Path, sig: signal.Signals,
                                                sigint_ignored: bool) -> None:
    d = project(tmp_path, HCL, f"FROM {busybox_image}\nRUN echo started; sleep 60\n")
    root = tmp_path / "root"
    with bake(d, root, "--progress=rawjson", preexec_fn=_ignore_sigint if sigint_ignored else None) as proc:
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


SHARED_BASE = """
FROM {base} AS base
RUN --mount=type=cache,id=runs,target=/runs echo ran >> /runs/shared; sleep 2; echo shared > /shared
FROM base AS a
RUN cp /shared /a
FROM base AS b
RUN cp /shared /b
FROM base AS c
RUN cp /shared /c
FROM base AS d
RUN cp /shared /d
"""
LEAVES = "".join(f'target "{t}" {{\n  target = "{t}"\n}}\n' for t in "abcd")


def shared_runs(root: Path) -> list[str]:
    """What the shared step appended to its cache mount: one line each time it really ran."""
    found = list(root.glob("cachemounts/*/data/shared"))
    return found[0].read_text().splitlines() if found else []


def step_events(out: str, name: str) -> list[str]:
    events = [json.loads(line) for line in out.splitlines()]
    return [e["event"] for e in events if e["event"] in ("started", "cached") and name in e["step"]["name"]]


def test_four_builds_on_one_root_run_their_shared_step_once(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, LEAVES, SHARED_BASE.format(base=busybox_image))
    root = tmp_path / "root"
    procs = [bake(d, root, "--progress=rawjson", t) for t in "abcd"]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        outs.append(out)
    assert shared_runs(root) == ["ran"]
    shared = sorted(e for out in outs for e in step_events(out, "/runs/shared"))
    assert shared == ["cached", "cached", "cached", "started"]  # one ran it, three were given its result
    for t, out in zip("abcd", outs, strict=True):
        assert step_events(out, f"cp /shared /{t}") == ["started"]


@pytest.mark.root
def test_a_build_killed_while_running_a_shared_step_does_not_block_the_one_waiting_for_it(
        busybox_image: str, tmp_path: Path) -> None:
    # The first to run the step finds no mark in the cache mount (not part of the step's cache key),
    # marks it and hangs; whoever runs it next finishes at once.
    d = project(tmp_path, 'target "default" {}\n', f"FROM {busybox_image}\n"
                "RUN --mount=type=cache,id=gate,target=/gate if [ ! -e /gate/first ]; then touch /gate/first; "
                "echo holding; sleep 60; fi; echo ran >> /gate/shared; echo built > /built\n")
    root = tmp_path / "root"
    with bake(d, root, "--progress=rawjson") as first:
        assert first.stdout is not None
        for line in first.stdout:
            event = json.loads(line)
            if event["event"] == "logged" and b"holding" in base64.b64decode(event["data"]):
                break
        else:
            pytest.fail(f"the first build ended before its step ran: {first.stderr.read() if first.stderr else ''}")
        with bake(d, root, "--progress=rawjson", "--set", "*.output=type=local,dest=out") as second:
            assert second.stdout is not None
            for line in second.stdout:
                event = json.loads(line)
                if event["event"] == "noted" and "waiting for another build" in event["text"]:
                    break
                assert event["event"] != "started" or "gate" not in event["step"]["name"], "it did not wait"
            else:
                pytest.fail(f"the second build did not wait: {second.stderr.read() if second.stderr else ''}")
            first.send_signal(signal.SIGKILL)
            first.wait()
            rest, err = second.communicate(timeout=120)
            assert second.returncode == 0, err
    assert (d / "out/built").read_text() == "built\n"
    assert shared_runs(root) == ["ran"]  # the killed build never got that far; the second ran it itself
    assert step_events(rest, "/gate/first") == ["started"]
    third = bake(d, root, "--progress=rawjson")
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0, err
    assert "started" not in {json.loads(line)["event"] for line in out.splitlines()}
    # the killed build's container still sleeps: prune stops it (a fully cached build does not look)
    pruned = subprocess.run([sys.executable, "-m", "bake", "prune", "--root", str(root)], capture_output=True, text=True)
    assert pruned.returncode == 0, pruned.stderr
    assert containers(root) == []
