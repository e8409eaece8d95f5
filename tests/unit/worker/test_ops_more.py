"""The worker's ops beyond the basics: an op type nobody runs, writable and broken bind mounts,
secrets given to a RUN, a file op that fails, a merge where the later input wins."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bake.graph.ops import Copy, ExecOp, FileOp, MergeOp, Mount, Vertex
from bake.model import SecretEntry
from bake.worker.errors import ExecError, FileOpError
from bake.worker.ops import resolve
from bake.worker.secrets import Secrets
from bake.worker.state import WorkerState
from tests.unit.worker.fakes import CopySnapshots, FakeExecutor, snapshot, worker_state

ROOT = Mount("/", input=0, output=True)


def run(state: WorkerState, op: object, inputs: list[str]) -> str:
    v = Vertex(op, name="step")  # type: ignore[arg-type]
    return anyio.run(resolve(v.op), state, v, inputs, [].append)


def tree(state: WorkerState, sid: str) -> dict[str, bytes]:
    assert isinstance(state.snapshots, CopySnapshots)
    return state.snapshots.tree(sid)


def test_an_op_type_nobody_runs_is_named() -> None:
    with pytest.raises(TypeError, match="no worker op runs str"):
        resolve("not an op")  # type: ignore[arg-type]


def test_a_writable_bind_mount_drops_what_the_process_changed(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    base, src = snapshot(state, {}), snapshot(state, {"/data/seed": b"s"})
    ids = set(state.snapshots.ids())
    result = run(state, ExecOp(("true",), (), "/", "", (ROOT, Mount("/work", input=1))), [base, src])
    (call,) = fake.calls
    (mount,) = call.mounts
    assert not mount.readonly and call.files == {"/work/data/seed": b"s"}
    assert set(state.snapshots.ids()) == ids | {result}  # the throwaway child is gone
    assert tree(state, src) == {"/data/seed": b"s"}


def test_a_bind_mount_of_a_missing_directory_is_refused_and_leaves_no_snapshot(tmp_path: Path) -> None:
    state = worker_state(tmp_path)
    base, src = snapshot(state, {}), snapshot(state, {"/data/seed": b"s"})
    op = ExecOp(("true",), (), "/", "", (ROOT, Mount("/src", input=1, selector="/nope", readonly=True)))
    with pytest.raises(ExecError, match="bind mount source /nope"):
        run(state, op, [base, src])
    assert state.snapshots.ids() == [base, src]


def test_secrets_reach_the_process_as_a_file_and_a_variable(tmp_path: Path) -> None:
    fake = FakeExecutor()
    state = worker_state(tmp_path, fake)
    state.secrets = Secrets([SecretEntry("token", env="TOKEN")], {"TOKEN": "s3cret"}, str(tmp_path),
                            scratch=str(tmp_path))
    op = ExecOp(("true",), ("A=1",), "/", "", (ROOT, Mount("/run/secrets/token", type="secret", secret_id="token"),
                                            Mount("", type="secret", secret_id="token", env="API_TOKEN")))
    result = run(state, op, [snapshot(state, {})])
    (call,) = fake.calls
    assert call.process.env == ("A=1", "API_TOKEN=s3cret")
    (mount,) = call.mounts
    assert mount.destination == "/run/secrets/token" and mount.readonly
    assert Path(mount.source).read_bytes() == b"s3cret"
    assert tree(state, result) == {}  # never part of the layer


def test_a_file_op_that_fails_leaves_no_snapshot(tmp_path: Path) -> None:
    state = worker_state(tmp_path)
    base, ctx = snapshot(state, {"/etc/os": b"x"}), snapshot(state, {"/a": b"a"})
    with pytest.raises(FileOpError, match="not found"):
        run(state, FileOp(0, (Copy(1, "a", "/a"), Copy(1, "missing", "/m"))), [base, ctx])
    assert state.snapshots.ids() == [base, ctx]
    done = run(state, FileOp(0, (Copy(1, "a", "/copied"),)), [base, ctx])
    assert tree(state, done) == {"/etc/os": b"x", "/copied": b"a"}


def test_a_merge_applies_later_inputs_over_earlier_ones(tmp_path: Path) -> None:
    state = worker_state(tmp_path)
    base = snapshot(state, {"/etc/os": b"base", "/app/conf": b"old"})
    lower = state.snapshots.prepare(None)
    (Path(state.snapshots.upper(lower)) / "app").mkdir()
    (Path(state.snapshots.upper(lower)) / "app" / "conf").write_bytes(b"first")
    lower = state.snapshots.commit(lower)
    upper = state.snapshots.prepare(lower)
    (Path(state.snapshots.upper(upper)) / "app").mkdir()
    (Path(state.snapshots.upper(upper)) / "app" / "conf").write_bytes(b"new")
    (Path(state.snapshots.upper(upper)) / "bin").mkdir()
    (Path(state.snapshots.upper(upper)) / "bin" / "tool").write_bytes(b"t")
    upper = state.snapshots.commit(upper)
    merged = run(state, MergeOp(), [base, upper])
    assert tree(state, merged) == {"/etc/os": b"base", "/app/conf": b"new", "/bin/tool": b"t"}
    assert state.snapshots.parent(merged) == base
