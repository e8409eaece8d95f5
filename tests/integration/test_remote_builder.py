"""bake --builder NAME on a real buildkitd (buildx's remote driver).

Needs a BuildKit daemon: BAKE_TEST_BUILDKIT_HOST=unix:///path/buildkitd.sock (or tcp://host:port),
and BAKE_TEST_BUILDKIT_BASE, an image the daemon can pull (default
127.0.0.1:5000/library/busybox:latest). CI has none, so these skip there; locally:
``BAKE_TEST_BUILDKIT_HOST=unix:///work/ref/buildkitd.sock .venv/bin/python -m pytest tests/integration/test_remote_builder.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HOST = os.environ.get("BAKE_TEST_BUILDKIT_HOST", "")
BASE = os.environ.get("BAKE_TEST_BUILDKIT_BASE", "127.0.0.1:5000/library/busybox:latest")
pytestmark = pytest.mark.skipif(not HOST, reason="no BuildKit daemon: set BAKE_TEST_BUILDKIT_HOST=unix:///…/buildkitd.sock")


def _project(tmp_path: Path, endpoint: str, output: str) -> dict[str, str]:
    inst = tmp_path / "docker" / "buildx" / "instances"
    inst.mkdir(parents=True)
    (inst / "remote1").write_text(json.dumps({"Name": "remote1", "Driver": "remote", "Nodes": [
        {"Name": "remote10", "Endpoint": endpoint, "Platforms": None, "DriverOpts": None, "Flags": None,
         "Files": None}], "Dynamic": False}))
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.txt").write_text("hello from the context\n")
    (tmp_path / "ctx" / "skip.log").write_text("ignored\n")
    (tmp_path / "ctx" / ".dockerignore").write_text("*.log\n")
    (tmp_path / "docker-bake.hcl").write_text(f'''
group "default" {{ targets = ["a", "b"] }}
target "base" {{
  context = "ctx"
  dockerfile-inline = <<EOT
FROM {BASE} AS build
RUN echo shared > /shared.txt
COPY . /ctx/
RUN ls /ctx > /listing.txt
FROM scratch
COPY --from=build /shared.txt /listing.txt /ctx/hello.txt /
EOT
}}
target "a" {{
  inherits = ["base"]
  output = ["{output.replace("NAME", "a")}"]
}}
target "b" {{
  inherits = ["base"]
  output = ["{output.replace("NAME", "b")}"]
}}
''')
    return {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker"), "BAKE_ROOT": str(tmp_path / "root")}


def _bake(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bake", "--progress=plain", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_two_targets_with_a_local_context_export_locally(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=local,dest=out/NAME")
    r = _bake(tmp_path, env, "--builder", "remote1")
    assert r.returncode == 0, r.stderr
    for name in ("a", "b"):
        out = tmp_path / "out" / name
        assert (out / "shared.txt").read_text() == "shared\n"
        assert (out / "hello.txt").read_text() == "hello from the context\n"
        assert (out / "listing.txt").read_text().split() == ["hello.txt"]  # .dockerignore honoured
    assert "RUN echo shared > /shared.txt" in r.stderr
    assert "builder remote1 (remote): node remote10" in r.stderr


def test_tar_output_and_buildx_builder_env(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=tar,dest=out/NAME.tar")
    r = _bake(tmp_path, {**env, "BUILDX_BUILDER": "remote1"}, "a")
    assert r.returncode == 0, r.stderr
    import tarfile

    with tarfile.open(tmp_path / "out" / "a.tar") as tf:
        assert sorted(tf.getnames()) == ["hello.txt", "listing.txt", "shared.txt"]


def test_unreachable_node_is_an_error_before_building(tmp_path: Path) -> None:
    env = _project(tmp_path, "unix:///nonexistent/buildkitd.sock", "type=local,dest=out/NAME")
    r = _bake(tmp_path, env, "--builder", "remote1")
    assert r.returncode != 0
    assert "builder 'remote1', node 'remote10': cannot reach buildkitd at unix:///nonexistent/buildkitd.sock" in r.stderr
    assert not (tmp_path / "out").exists()


def test_refused_outputs_say_so(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=oci,dest=out/NAME.tar")
    r = _bake(tmp_path, env, "--builder", "remote1")
    assert r.returncode != 0
    assert "not supported yet on the remote builder: target a: output type=oci" in r.stderr
