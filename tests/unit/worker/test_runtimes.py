"""Choosing the OCI runtime: crun when a probe container runs with it, else runc; the answer is
remembered per binary and boot. Stand-in runtimes on PATH decide whether the probe succeeds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from bake.worker import runtimes
from bake.worker.errors import ExecError
from tests.unit.worker.runtimefake import FakeRuntime


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runtimes, "_probed", {})  # what this process remembers: nothing yet
    monkeypatch.setattr(runtimes, "MACHINE_RECORD", str(tmp_path / "run" / "bake" / "runtimes.json"))


def on_path(monkeypatch: pytest.MonkeyPatch, *fakes: FakeRuntime) -> None:
    monkeypatch.setenv("PATH", ":".join([*(str(f.dir) for f in fakes), "/usr/bin", "/bin"]))


def select(state: Path, requested: str | None = None) -> str:
    return anyio.run(runtimes.select_runtime, str(state), requested)


def test_crun_is_preferred_when_its_probe_container_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crun = FakeRuntime(tmp_path / "crun-bin", name="crun")
    runc = FakeRuntime(tmp_path / "runc-bin")
    on_path(monkeypatch, crun, runc)
    assert select(tmp_path / "state") == "crun"
    assert crun.commands() == ["run"] and runc.commands() == []
    (config,) = crun.configs()
    assert config["process"]["args"] == [runtimes.shutil.which("true")]  # type: ignore[index]
    assert os.listdir(tmp_path / "state") == ["runtimes.json"]  # the probe's rootfs is gone


def test_runc_when_crun_fails_here_and_the_answers_are_remembered(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    crun = FakeRuntime(tmp_path / "crun-bin", name="crun", stderr="cgroups in hybrid mode not supported\n",
                       exit_code=1)
    runc = FakeRuntime(tmp_path / "runc-bin")
    on_path(monkeypatch, crun, runc)
    assert select(tmp_path / "state") == "runc"
    assert select(tmp_path / "state") == "runc"  # this process: no second probe
    monkeypatch.setattr(runtimes, "_probed", {})  # the next bake process on this root
    assert select(tmp_path / "state") == "runc"
    assert crun.commands() == ["run"] and runc.commands() == ["run"]
    record = json.loads((tmp_path / "state" / "runtimes.json").read_text())
    assert sorted(record.values()) == [False, True]
    assert all(key.startswith((crun.path + "|", runc.path + "|")) for key in record)


def test_a_changed_binary_is_probed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runc = FakeRuntime(tmp_path / "runc-bin")
    on_path(monkeypatch, runc)
    assert anyio.run(runtimes.probe, "runc", str(tmp_path / "state"))
    monkeypatch.setattr(runtimes, "_probed", {})
    os.utime(runc.path, ns=(1, 1))  # an upgrade: another binary
    assert anyio.run(runtimes.probe, "runc", str(tmp_path / "state"))
    assert runc.commands() == ["run", "run"]
    assert len(json.loads((tmp_path / "state" / "runtimes.json").read_text())) == 1  # the old answer is replaced


def test_a_damaged_record_is_probed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runc = FakeRuntime(tmp_path / "runc-bin")
    on_path(monkeypatch, runc)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "runtimes.json").write_text("[1, 2")
    assert anyio.run(runtimes.probe, "runc", str(tmp_path / "state"))
    assert runc.commands() == ["run"]


def test_no_working_runtime_and_a_missing_requested_one_are_named(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    crun = FakeRuntime(tmp_path / "crun-bin", name="crun", exit_code=1)
    runc = FakeRuntime(tmp_path / "runc-bin", exit_code=1)
    on_path(monkeypatch, crun, runc)
    with pytest.raises(ExecError, match="no working OCI runtime"):
        select(tmp_path / "state")
    with pytest.raises(ExecError, match="'youki' is not installed"):
        select(tmp_path / "state", "youki")
    assert select(tmp_path / "state", "runc") == "runc"  # asked for: not probed
    assert runc.commands() == ["run"]


def test_a_new_state_root_on_the_same_machine_starts_no_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crun = FakeRuntime(tmp_path / "crun-bin", name="crun", exit_code=1)
    runc = FakeRuntime(tmp_path / "runc-bin")
    on_path(monkeypatch, crun, runc)
    assert select(tmp_path / "root-1") == "runc"
    monkeypatch.setattr(runtimes, "_probed", {})  # another bake process, with a fresh --root
    assert select(tmp_path / "root-2") == "runc"
    assert crun.commands() == ["run"] and runc.commands() == ["run"]  # answered by the machine's record


def test_the_machine_record_forgets_runtimes_that_are_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "run" / "bake" / "runtimes.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"/nonexistent/crun|1|2|boot": False}))
    runc = FakeRuntime(tmp_path / "runc-bin")
    on_path(monkeypatch, runc)
    assert select(tmp_path / "state") == "runc"
    paths = [key.split("|")[0] for key in json.loads(record.read_text())]
    assert runc.path in paths and "/nonexistent/crun" not in paths
