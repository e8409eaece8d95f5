"""An exec op with a fake executor: what the process is given, what its result holds, and what a
failure leaves behind."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from bake.errors import StepError
from bake.graph.ops import ExecOp, Mount, Vertex
from bake.worker.errors import ExecError
from bake.worker.execution import Mount as RunMount
from bake.worker.execution import Process
from bake.worker.ops import exec as execop
from bake.worker.state import WorkerState
from tests.unit.worker.fakes import CopySnapshots, FakeExecutor, snapshot, worker_state

ROOT = Mount("/", input=0, output=True)


def run(state: WorkerState, op: ExecOp, inputs: list[str], platform: str | None = None,
        log: list[bytes] | None = None) -> str:
    v = Vertex(op, platform=platform, name="RUN step")
    return anyio.run(execop.run, state, v, inputs, (log if log is not None else []).append)


def tree(state: WorkerState, sid: str) -> dict[str, bytes]:
    snaps = state.snapshots
    assert isinstance(snaps, CopySnapshots)
    return snaps.tree(sid)


def test_the_process_gets_the_ops_command_and_settings(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    base = snapshot(state, {"/bin/sh": b"shell"})
    op = ExecOp(("sh", "-c", "make"), ("A=1",), "/src", "1000", (ROOT,), network="none",
                extra_hosts=("db=10.0.0.2",), shm_size=1 << 20, ulimits=("nofile=1024:2048",))
    run(state, op, [base])
    (call,) = fake.calls
    assert call.process == Process(("sh", "-c", "make"), ("A=1",), "/src", "1000", "none",
                                   extra_hosts=("db=10.0.0.2",), shm_size=1 << 20, ulimits=("nofile=1024:2048",))
    assert call.files == {"/bin/sh": b"shell"}  # the rootfs is the input's snapshot
    assert call.mounts == ()


def test_the_result_is_the_rootfs_with_what_the_process_wrote(tmp_path: Path) -> None:
    state = worker_state(tmp_path, FakeExecutor(writes={"/out/built": b"artifact"}))
    base = snapshot(state, {"/bin/sh": b"shell"})
    result = run(state, ExecOp(("build",), (), "/", "", (ROOT,)), [base])
    assert state.snapshots.committed(result) and result != base
    assert tree(state, result) == {"/bin/sh": b"shell", "/out/built": b"artifact"}
    assert state.snapshots.parent(result) == base


def test_a_foreign_platform_is_passed_on_and_the_hosts_is_not(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    base = snapshot(state, {})
    run(state, ExecOp(("true",), (), "/", "", (ROOT,)), [base], platform="linux/arm64")
    run(state, ExecOp(("true",), (), "/", "", (ROOT,)), [base], platform="linux/amd64")
    assert [c.process.platform for c in fake.calls] == ["linux/arm64", ""]


def test_output_reaches_the_log(tmp_path: Path) -> None:
    state = worker_state(tmp_path, FakeExecutor(output=b"compiling\n"))
    log: list[bytes] = []
    run(state, ExecOp(("make",), (), "/", "", (ROOT,)), [snapshot(state, {})], log=log)
    assert log == [b"compiling\n"]


def test_a_failing_process_is_a_step_error_with_its_last_lines_and_leaves_no_snapshot(tmp_path: Path) -> None:
    output = b"".join(b"line %d\n" % n for n in range(20))
    state = worker_state(tmp_path, FakeExecutor(output=output, exit_code=2))
    base = snapshot(state, {})
    before = set(state.snapshots.ids())
    with pytest.raises(StepError) as caught:
        run(state, ExecOp(("make", "all"), (), "/", "", (ROOT,)), [base])
    err = caught.value
    assert err.exit_code == 2
    assert err.reason == 'process "make all" did not complete successfully: exit code: 2'
    assert err.output == tuple(f"line {n}" for n in range(10, 20))
    assert set(state.snapshots.ids()) == before
    assert os.listdir(state.scratch) == []  # every temporary mount point is gone


def test_bind_mounts_show_the_selected_directory_of_their_input(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    base = snapshot(state, {})
    src = snapshot(state, {"/app/main.c": b"int main;", "/other": b"x"})
    op = ExecOp(("cc",), (), "/", "", (ROOT, Mount("/src", input=1, selector="/app", readonly=True)))
    run(state, op, [base, src])
    (call,) = fake.calls
    (mount,) = call.mounts
    assert (mount.destination, mount.type, mount.readonly) == ("/src", "bind", True)
    assert call.files == {"/src/main.c": b"int main;"}


def test_an_inputless_bind_is_an_empty_directory_and_tmpfs_is_passed_with_its_size(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    op = ExecOp(("true",), (), "/", "", (ROOT, Mount("/empty"), Mount("/tmp", type="tmpfs", size=4096)))
    run(state, op, [snapshot(state, {})])
    empty, tmpfs = fake.calls[0].mounts
    assert empty.destination == "/empty" and empty.source.startswith(state.scratch)
    assert tmpfs == RunMount("/tmp", type="tmpfs", size=4096)


def test_a_cache_mount_is_a_lasting_directory_seeded_from_its_input(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    seed = snapshot(state, {"/deps/lock": b"v1"})
    op = ExecOp(("true",), (), "/", "", (ROOT, Mount("/cache", type="cache", cache_id="go", input=1, selector="/deps")))
    run(state, op, [snapshot(state, {}), seed])
    run(state, op, [snapshot(state, {}), seed])
    first, second = fake.calls
    assert first.mounts[0].source == second.mounts[0].source
    assert second.files == {"/cache/lock": b"v1"}


def test_an_unknown_mount_type_is_refused_and_leaves_no_snapshot(tmp_path: Path) -> None:
    state = worker_state(tmp_path)
    base = snapshot(state, {})
    with pytest.raises(ExecError, match="mount type 'nfs' is not supported"):
        run(state, ExecOp(("true",), (), "/", "", (ROOT, Mount("/x", type="nfs"))), [base])
    assert state.snapshots.ids() == [base]
