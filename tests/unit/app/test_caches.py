"""cache-to and cache-from as the app wires them, with builds that need no container runtime
(``FROM scratch`` and ``COPY``): what each mode exports, what another root imports from it, what
goes inline into an image config, and what is reported and skipped."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.app.outputs import TargetResult
from bake.progress.events import Event, Noted

pytestmark = pytest.mark.root  # the worker mounts its snapshots

DOCKERFILE = "FROM scratch AS base\nCOPY a /a\nFROM base\nCOPY b /b\n"


def project(tmp_path: Path, attrs: str) -> Path:
    d = tmp_path / "project"
    d.mkdir(exist_ok=True)
    (d / "Dockerfile").write_text(DOCKERFILE)
    (d / "a").write_text("a\n")
    (d / "b").write_text("b\n")
    (d / "docker-bake.hcl").write_text(f'target "default" {{\n{attrs}}}\n')
    return d


def run(d: Path, root: Path, events: list[Event] | None = None) -> list[TargetResult]:
    sink = events.append if events is not None else (lambda e: None)
    return build(resolve(Request(cwd=str(d), env={})), BuildOptions(root=str(root)), sink)


def keys(layout: Path) -> dict[str, list[int]]:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text())
    result: dict[str, list[int]] = config["keys"]
    return result


def test_min_exports_the_result_max_every_step_and_another_root_imports_them(tmp_path: Path) -> None:
    d = project(tmp_path, '  cache-to = ["type=local,dest=min", "type=local,dest=max,mode=max"]\n')
    events: list[Event] = []
    (first,) = run(d, tmp_path / "root", events)
    assert first.executed > 0
    notes = [e.text for e in events if isinstance(e, Noted)]
    assert "cache type=local,dest=min (1 keys)" in notes and "cache type=local,dest=max (2 keys)" in notes
    assert len(keys(d / "min")) == 1 and len(keys(d / "max")) == 2  # the result; both COPY steps
    (d / "docker-bake.hcl").write_text('target "default" {\n  cache-from = ["type=local,src=max"]\n'
                                       '  output = ["type=local,dest=out"]\n}\n')
    (again,) = run(d, tmp_path / "fresh-root")
    assert (d / "out/a").read_text() == "a\n" and (d / "out/b").read_text() == "b\n"
    assert again.executed < first.executed  # the COPY steps came from the imported cache


def test_inline_cache_goes_into_the_image_config(tmp_path: Path) -> None:
    d = project(tmp_path, '  output = ["type=oci,dest=img.tar"]\n  cache-to = ["type=inline"]\n')
    run(d, tmp_path / "root")
    with tarfile.open(d / "img.tar") as tar:
        def read(name: str) -> dict[str, object]:
            f = tar.extractfile(name)
            assert f is not None
            doc: dict[str, object] = json.loads(f.read())
            return doc

        index = read("index.json")
        digest = index["manifests"][0]["digest"]  # type: ignore[index]
        manifest = read(f"blobs/sha256/{digest[7:]}")
        config = read(f"blobs/sha256/{manifest['config']['digest'][7:]}")  # type: ignore[index]
    inline = config["bake.cache.v1"]["keys"]  # type: ignore[index]
    assert len(inline) == 2 and sorted(inline.values()) == [[0], [0, 1]]


def test_unsupported_cache_types_are_reported_and_skipped(tmp_path: Path) -> None:
    d = project(tmp_path, '  cache-from = ["type=gha,scope=x"]\n  cache-to = ["type=s3,region=x"]\n')
    events: list[Event] = []
    (result,) = run(d, tmp_path / "root", events)
    warnings = [e.text for e in events if isinstance(e, Noted) and e.level == "warning"]
    assert "target default: cache-from type=gha is not supported yet; building without it" in warnings
    assert "target default: cache-to type=s3 is not supported yet; building without it" in warnings
    assert result.error is None


def test_a_failed_target_exports_no_cache(tmp_path: Path) -> None:
    d = project(tmp_path, '  cache-to = ["type=local,dest=c"]\n')
    (d / "b").unlink()  # COPY b fails
    with pytest.raises(Exception, match="b"):
        run(d, tmp_path / "root")
    assert not (d / "c").exists()
