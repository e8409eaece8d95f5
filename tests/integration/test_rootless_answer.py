"""An ordinary user's fully cached build is answered without the user-namespace child
(``app/outside.py``); anything that must run or be written goes to the child. The child here is a
counting stand-in that builds in this process (these tests run as root); CI's rootless pass also
runs the real thing as an ordinary user (test_rootless_cli.py)."""

from __future__ import annotations

import os
from pathlib import Path

from bake.app import Request, resolve
from bake.app.build import BuildOptions
from bake.app.build import build as build_as_root
from bake.app.outputs import TargetResult
from bake.app.outside import build
from bake.progress.events import Completed, Event, Noted, Started
from tests.unit.app.test_outside import CountingChild  # the counting stand-in for the child

HCL = """
target "app" {
  output = ["type=local,dest=out"]
}
target "quiet" {
  dockerfile-inline = "FROM scratch\\nCOPY data /d\\n"
}
"""
DOCKERFILE = """
FROM {base}
COPY data /data
RUN cat /data > /copy && mkdir -p /etc/app && echo on > /etc/app/flag
"""


def project(tmp_path: Path, base: str) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    (d / "docker-bake.hcl").write_text(HCL)
    (d / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (d / "data").write_text("one\n")
    return d


def bake(d: Path, root: Path, child: CountingChild, events: list[Event] | None = None) -> list[TargetResult]:
    resolved = resolve(Request(targets=("app", "quiet"), cwd=str(d)))
    sink = events.append if events is not None else (lambda e: None)
    return build(resolved, BuildOptions(root=str(root)), str(root), sink, child=child)


def shown(events: list[Event]) -> list[tuple[str, str]]:
    """What a renderer shows: each event's kind and step name or text."""
    out = []
    for e in events:
        step = getattr(e, "step", None)
        text = e.text if isinstance(e, Noted) else getattr(e, "target", "")
        out.append((type(e).__name__, step.name if step is not None else text))
    return out


def test_a_cached_build_with_its_outputs_in_place_needs_no_child(busybox_image: str, tmp_path: Path) -> None:
    d, root, child = project(tmp_path, busybox_image), tmp_path / "root", CountingChild()
    first = bake(d, root, child)
    assert child.calls == 1 and (d / "out" / "copy").read_text() == "one\n"
    events: list[Event] = []
    again = bake(d, root, child, events)
    assert child.calls == 1 and child.dismissed == 1
    assert [(r.target, r.results, r.outputs, r.executed) for r in again] == [
        (r.target, r.results, r.outputs, 0) for r in first]
    as_root: list[Event] = []  # the same warm build as root shows: steps cached, the export, the warning
    build_as_root(resolve(Request(targets=("app", "quiet"), cwd=str(d))), BuildOptions(root=str(root)), as_root.append)
    assert shown(events) == shown(as_root)
    assert ("Started", "exporting to directory out") in shown(events)
    assert any(isinstance(e, Noted) and "No output specified for quiet target" in e.text for e in events)


def test_an_output_changed_since_the_export_is_written_again_by_the_child(busybox_image: str,
                                                                            tmp_path: Path) -> None:
    d, root, child = project(tmp_path, busybox_image), tmp_path / "root", CountingChild()
    bake(d, root, child)
    (d / "out" / "copy").write_text("changed\n")
    bake(d, root, child)
    assert child.calls == 2 and (d / "out" / "copy").read_text() == "one\n"
    os.utime(d / "out" / "etc" / "app", ns=(0, 0))  # a directory's times, which the export sets too
    bake(d, root, child)
    assert child.calls == 3
    (d / "out" / "extra").write_text("mine\n")  # an entry the build does not make: kept, as buildx keeps it
    bake(d, root, child)
    assert child.calls == 4 and (d / "out" / "extra").exists()
    bake(d, root, child)
    assert child.calls == 4  # recorded with the extra entry: in place again


def test_a_miss_goes_to_the_child_and_shows_its_steps_once(busybox_image: str, tmp_path: Path) -> None:
    d, root, child = project(tmp_path, busybox_image), tmp_path / "root", CountingChild()
    bake(d, root, child)
    (d / "data").write_text("two\n")
    events: list[Event] = []
    results = bake(d, root, child, events)
    assert child.calls == 2 and (d / "out" / "copy").read_text() == "two\n"
    assert sum(r.executed for r in results) > 0
    exports = [e for e in events if isinstance(e, Started | Completed) and e.step.name.startswith("exporting")]
    assert len(exports) == 2  # started and completed once: nothing held back was sent twice


def test_outputs_that_write_something_always_go_to_the_child(busybox_image: str, tmp_path: Path) -> None:
    d, root, child = project(tmp_path, busybox_image), tmp_path / "root", CountingChild()
    (d / "docker-bake.hcl").write_text(HCL.replace('"type=local,dest=out"', '"type=tar,dest=out.tar"'))
    bake(d, root, child)
    bake(d, root, child)
    assert child.calls == 2


def test_a_root_whose_snapshot_kind_is_not_recorded_goes_to_the_child(busybox_image: str, tmp_path: Path) -> None:
    d, root, child = project(tmp_path, busybox_image), tmp_path / "root", CountingChild()
    bake(d, root, child)
    (root / "snapshots" / ".kind").unlink()  # the parent never probes: only the namespace can mount
    bake(d, root, child)
    assert child.calls == 2
