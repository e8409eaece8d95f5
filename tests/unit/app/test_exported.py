"""A ``type=local`` output that already holds a build's results, exactly as the last export left
it, is not written again: no mount of the results, no sync (``app/exported.py``). Anything else —
other results, an output changed since, a tarball — is exported as before.

The builds run as root in this process (``FROM scratch`` and ``COPY``: file operations of the
embedded worker); mounts of results for export are counted at ``app/outputs.views``."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bake.app import Request, exported, outputs, resolve
from bake.app.build import BuildOptions, build
from bake.progress.events import Completed, Event, Started
from bake.worker.snapshot import Snapshotter

pytestmark = pytest.mark.root  # the worker mounts its snapshots

HCL = """
target "app" {
  dockerfile-inline = "FROM scratch\\nCOPY data /data\\n"
  output = ["type=local,dest=out", "type=tar,dest=app.tar"]
}
target "dir" {
  dockerfile-inline = "FROM scratch\\nCOPY data /d\\n"
  output = ["type=local,dest=dir"]
}
"""


@pytest.fixture
def mounts(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every result mounted for a file export, in order."""
    seen: list[str | None] = []
    real = outputs.views

    @contextlib.contextmanager
    def counted(snapshots: Snapshotter, scratch: str, results: Sequence[str | None]) -> Iterator[list[str | None]]:
        seen.extend(results)
        with real(snapshots, scratch, results) as trees:
            yield trees

    monkeypatch.setattr(outputs, "views", counted)
    return seen


def project(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    (d / "docker-bake.hcl").write_text(HCL)
    (d / "data").write_text("one\n")
    return d


def bake(d: Path, root: Path, events: list[Event] | None = None) -> None:
    sink = events.append if events is not None else (lambda e: None)
    build(resolve(Request(targets=("app", "dir"), cwd=str(d), env={})), BuildOptions(root=str(root)), sink)


def test_a_warm_build_whose_local_output_is_in_place_mounts_and_writes_nothing(
        tmp_path: Path, mounts: list[str | None]) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    bake(d, root)
    assert len(mounts) == 2 and (d / "dir/d").read_text() == "one\n"
    tar_before = os.stat(d / "app.tar").st_mtime_ns

    events: list[Event] = []
    bake(d, root, events)
    assert len(mounts) == 3  # app's tarball is written again (from a mount); dir needs none
    assert os.stat(d / "app.tar").st_mtime_ns != tar_before
    started = sorted(e.step.name for e in events if isinstance(e, Started) and e.step.name.startswith("exporting"))
    assert started == ["exporting to directory dir", "exporting to directory out", "exporting to tarball app.tar"]
    assert all(not e.error for e in events if isinstance(e, Completed))


def test_an_output_changed_since_its_export_is_written_again(tmp_path: Path, mounts: list[str | None]) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    bake(d, root)
    (d / "dir/d").write_text("edited\n")
    (d / "dir/mine").write_text("the user's own file\n")
    bake(d, root)
    assert len(mounts) == 4 and (d / "dir/d").read_text() == "one\n"
    assert (d / "dir/mine").exists()  # entries the build does not make stay, as with buildx
    bake(d, root)
    assert len(mounts) == 5  # recorded with the user's file: in sync again


def test_other_results_are_exported(tmp_path: Path, mounts: list[str | None]) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    bake(d, root)
    (d / "data").write_text("two\n")
    bake(d, root)
    assert len(mounts) == 4 and (d / "dir/d").read_text() == "two\n"


def test_a_record_names_its_results_and_the_fingerprint_of_the_destination(tmp_path: Path) -> None:
    out = tmp_path / "out"
    exported.note(str(tmp_path / "root"), "app", str(out), ["1"])  # nothing to read: no record
    assert not (tmp_path / "root/exported").exists()
    out.mkdir()
    exported.note(str(tmp_path / "root"), "app", str(out), ["1"])
    (doc,) = [json.loads(p.read_text()) for p in (tmp_path / "root/exported").iterdir()]
    assert doc == {"dest": str(out), "results": ["1"], "fingerprint": exported.fingerprint(str(out))}
    assert exported.in_sync(str(tmp_path / "root"), "app", str(out), ["1"])
    assert not exported.in_sync(str(tmp_path / "root"), "app", str(out), ["2"])
    assert not exported.in_sync(str(tmp_path / "root"), "other", str(out), ["1"])
    (out / "f").write_text("x")
    assert not exported.in_sync(str(tmp_path / "root"), "app", str(out), ["1"])
