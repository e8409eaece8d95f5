"""After a build is killed: its scratch directory is found by its free lock, its containers are
stopped (asked of a stand-in runtime), the directory removed, and temp files of dead writers swept —
but never the files of a live build, snapshot trees or cache mount contents."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bake.worker.recovery import abandoned, claim, recover, sweep
from tests.unit.worker.runtimefake import FakeRuntime


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def killed_build(run_dir: Path, name: str, with_lock: bool = True) -> Path:
    """A scratch directory as a ``kill -9`` leaves it: present, its lock held by nobody."""
    path = run_dir / f"build-{name}"
    path.mkdir(parents=True)
    if with_lock:
        (path / ".lock").touch()
    return path


def test_a_live_builds_scratch_is_not_abandoned_and_release_removes_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    scratch = claim(str(run_dir))
    assert Path(scratch.path).parent == run_dir and Path(scratch.path).name.startswith(f"build-{os.getpid()}-")
    assert abandoned(str(run_dir)) == []  # its lock is held
    scratch.release()
    assert not os.path.exists(scratch.path)


def test_killed_builds_are_found_by_their_free_lock(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    live = claim(str(run_dir))
    a = killed_build(run_dir, "1-a")
    b = killed_build(run_dir, "2-b", with_lock=False)  # killed before it made its lock
    (run_dir / "runtime").mkdir()  # the runtime's own state: never a build
    try:
        assert abandoned(str(run_dir)) == [str(a), str(b)]
    finally:
        live.release()
    assert abandoned(str(tmp_path / "nothing")) == []


def test_recover_stops_the_dead_builds_containers_and_removes_their_directories(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    dead = killed_build(run_dir, "1-a")
    live = claim(str(run_dir))
    runtime = FakeRuntime(tmp_path / "rt", containers=[
        {"id": "bake-dead", "bundle": str(dead / "bundle-x")},
        {"id": "bake-live", "bundle": os.path.join(live.path, "bundle-y")},
    ])
    try:
        assert recover(str(run_dir), runtime.path, [str(dead)]) == [str(dead)]
        assert not dead.exists() and os.path.isdir(live.path)
        assert [(c[2], c[3]) for c in runtime.calls()] == [("list", "--format"), ("kill", "bake-dead"),
                                                           ("delete", "--force")]
        assert runtime.calls()[2][4] == "bake-dead"
    finally:
        live.release()


def test_recover_with_a_runtime_that_answers_nonsense_still_removes_the_directories(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    dead = killed_build(run_dir, "1-a")
    runtime = tmp_path / "runc"
    runtime.write_text("#!/bin/sh\necho 'not json'\n")
    os.chmod(runtime, 0o755)
    recover(str(run_dir), str(runtime), [str(dead)])
    assert not dead.exists()


def test_claim_after_a_crash_sweeps_dead_writers_temp_files(tmp_path: Path) -> None:
    pid = dead_pid()
    stale = f"x.{pid}.1.1.tmp"
    (tmp_path / "content" / "ingest").mkdir(parents=True)
    (tmp_path / "content" / "ingest" / stale).write_text("half a blob")
    (tmp_path / f"cache.json.{os.getpid()}.1.2.tmp").write_text("mine: a live writer")
    for kept in ("cachemounts/apt", "snapshots/1/fs", "run/build-9-x"):
        (tmp_path / kept).mkdir(parents=True)
        (tmp_path / kept / stale).write_text("a file of a build's tree, not the root's")
    scratch = claim(str(tmp_path / "run"))  # run/build-9-x holds no lock: a crash happened
    try:
        assert not (tmp_path / "content" / "ingest" / stale).exists()
        assert (tmp_path / f"cache.json.{os.getpid()}.1.2.tmp").exists()
        for kept in ("cachemounts/apt", "snapshots/1/fs", "run/build-9-x"):
            assert (tmp_path / kept / stale).exists()
    finally:
        scratch.release()


def test_prune_sweeps_nameless_temp_files_once_they_are_an_hour_old(tmp_path: Path) -> None:
    old, young = tmp_path / ".tmp-parse-abc", tmp_path / "blob-123"
    old.write_text("x")
    young.write_text("y")
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    (tmp_path / ".statcache-1").write_text("z")
    assert sweep(str(tmp_path)) == 0  # a build's sweep leaves them: their writer may be running
    assert sweep(str(tmp_path), everything=True) == 1
    assert not old.exists() and young.exists()
