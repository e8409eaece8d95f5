"""The ordinary user's all-cached answer in the parent (``app/outside.py``): a build whose every
target is cached and whose outputs already hold the results is answered without the user-namespace
child; anything that would run or write goes to the child, which is sent away unused otherwise.

The child here is a counting stand-in that builds in this process as root; the builds are ``FROM
scratch`` and ``COPY`` (file operations of the embedded worker, no container runtime)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bake.app import Request, Resolved, resolve
from bake.app.build import BuildOptions
from bake.app.build import build as build_as_root
from bake.app.exported import fingerprint
from bake.app.outputs import TargetResult
from bake.app.outside import answered, build
from bake.progress.events import Cached, Event, Noted, Started

pytestmark = pytest.mark.root  # the stand-in child mounts snapshots, as root in the namespace does

HCL = """
target "app" {
  dockerfile-inline = "FROM scratch\\nCOPY data /data\\n"
  output = ["type=local,dest=out"]
}
target "quiet" {
  dockerfile-inline = "FROM scratch\\nCOPY data /d\\n"
}
"""


class CountingChild:
    """Stands in for ``rootless.Child``: builds in this process; counts calls and dismissals."""

    def __init__(self) -> None:
        self.calls = 0
        self.dismissed = 0

    def call(self, args: tuple[Resolved, BuildOptions], sink: Callable[[Event], None] | None = None) -> object:
        self.calls += 1
        return build_as_root(*args, sink or (lambda e: None))

    def dismiss(self) -> None:
        self.dismissed += 1


def project(tmp_path: Path, hcl: str = HCL) -> Path:
    d = tmp_path / "project"
    d.mkdir(exist_ok=True)
    (d / "docker-bake.hcl").write_text(hcl)
    (d / "data").write_text("one\n")
    return d


def bake(d: Path, root: Path, child: CountingChild, events: list[Event] | None = None,
         opts: BuildOptions | None = None, targets: tuple[str, ...] = ("app", "quiet")) -> list[TargetResult]:
    resolved = resolve(Request(targets=targets, cwd=str(d), env={}))
    sink = events.append if events is not None else (lambda e: None)
    return build(resolved, opts or BuildOptions(root=str(root)), str(root), sink, child=child)


def test_a_cached_build_with_its_outputs_in_place_is_answered_without_the_child(tmp_path: Path) -> None:
    d, root, child = project(tmp_path), tmp_path / "root", CountingChild()
    first = bake(d, root, child)
    assert (child.calls, child.dismissed) == (1, 0) and (d / "out/data").read_text() == "one\n"

    events: list[Event] = []
    again = bake(d, root, child, events, BuildOptions(root=str(root), metadata_file=str(tmp_path / "m.json")))

    assert (child.calls, child.dismissed) == (1, 1)
    assert [(r.target, r.results, r.outputs, r.executed) for r in again] == [
        (r.target, r.results, r.outputs, 0) for r in first]
    assert all(r.cached > 0 for r in again)
    assert [e.step.name for e in events if isinstance(e, Started)] == ["exporting to directory out"]  # as an export shows
    assert any(isinstance(e, Cached) for e in events)
    notes = [e.text for e in events if isinstance(e, Noted)]
    assert any(n.startswith("No output specified for quiet target") for n in notes)
    meta = json.loads((tmp_path / "m.json").read_text())
    assert sorted(meta) == ["app", "quiet"] and meta["app"]["buildx.build.ref"].startswith("bake/app/")


def test_an_output_changed_since_the_export_goes_to_the_child(tmp_path: Path) -> None:
    d, root, child = project(tmp_path), tmp_path / "root", CountingChild()
    bake(d, root, child)
    (d / "out/data").write_text("edited\n")
    bake(d, root, child)
    assert (child.calls, child.dismissed) == (2, 0)
    assert (d / "out/data").read_text() == "one\n"  # the child wrote it again
    bake(d, root, child)
    assert (child.calls, child.dismissed) == (2, 1)  # and recorded it: in sync once more


def test_a_miss_goes_to_the_child(tmp_path: Path) -> None:
    d, root, child = project(tmp_path), tmp_path / "root", CountingChild()
    bake(d, root, child)
    (d / "data").write_text("two\n")
    (result, _) = bake(d, root, child)
    assert (child.calls, child.dismissed) == (2, 0) and result.executed > 0
    assert (d / "out/data").read_text() == "two\n"


@pytest.mark.parametrize("attrs", [
    'output = ["type=tar,dest=out.tar"]',  # writes a file every time
    'output = ["type=local,dest=-"]',
    'no-cache = true',
    'pull = true',
    'cache-to = ["type=local,dest=c"]',
    'attest = ["type=provenance,mode=min"]',  # documents made anew by each build
])
def test_what_always_writes_or_runs_goes_to_the_child(tmp_path: Path, attrs: str) -> None:
    plain = 'target "app" {\n  dockerfile-inline = "FROM scratch\\nCOPY data /data\\n"\n}\n'
    d, root = project(tmp_path, plain), tmp_path / "root"
    bake(d, root, CountingChild(), targets=("app",))  # the step is cached on this root
    resolved = resolve(Request(targets=("app",), cwd=str(d), env={}))
    assert answered(resolved.request, BuildOptions(), resolved.plan, str(root), lambda e: None) is not None
    (d / "docker-bake.hcl").write_text(plain.replace("\n}", f"\n  {attrs}\n}}"))
    resolved = resolve(Request(targets=("app",), cwd=str(d), env={}))
    assert answered(resolved.request, BuildOptions(), resolved.plan, str(root), lambda e: None) is None


def test_a_root_without_a_recorded_snapshot_kind_goes_to_the_child(tmp_path: Path) -> None:
    d, root, child = project(tmp_path), tmp_path / "root", CountingChild()
    bake(d, root, child)
    os.unlink(root / "snapshots/.kind")
    bake(d, root, child)
    assert (child.calls, child.dismissed) == (2, 0)


def test_what_the_parent_cannot_convert_is_left_to_the_child(tmp_path: Path) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    bake(d, root, CountingChild())  # a root with a recorded kind
    (d / "docker-bake.hcl").write_text('target "app" {\n  dockerfile = "Missing.Dockerfile"\n}\n')
    resolved = resolve(Request(targets=("app",), cwd=str(d), env={}))
    assert answered(resolved.request, BuildOptions(), resolved.plan, str(root), lambda e: None) is None


def test_the_child_is_dismissed_when_the_parent_fails_while_answering(tmp_path: Path) -> None:
    d, root, child = project(tmp_path), tmp_path / "root", CountingChild()
    bake(d, root, child)

    def failing(event: Event) -> None:
        raise KeyboardInterrupt

    resolved = resolve(Request(targets=("app", "quiet"), cwd=str(d), env={}))
    with pytest.raises(KeyboardInterrupt):
        build(resolved, BuildOptions(root=str(root)), str(root), failing, child=child)
    assert (child.calls, child.dismissed) == (1, 1)


def test_the_fingerprint_sees_what_a_local_export_compares(tmp_path: Path) -> None:
    d = tmp_path / "out"
    (d / "sub").mkdir(parents=True)
    (d / "sub/f").write_text("x")
    os.symlink("sub/f", d / "link")
    seen = [fingerprint(str(d))]

    def changed() -> None:
        seen.append(fingerprint(str(d)))
        assert seen[-1] != seen[-2]

    assert fingerprint(str(d)) == seen[0]  # stable
    os.utime(d / "sub/f", ns=(1, 1))
    changed()
    os.chmod(d / "sub/f", 0o600)
    changed()
    os.unlink(d / "link")
    os.symlink("elsewhere", d / "link")
    changed()
    (d / "sub/f").write_text("xy")
    os.utime(d / "sub/f", ns=(1, 1))
    changed()
