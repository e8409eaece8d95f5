"""The ``builder`` fixture: one test, run through the CLI on every builder bake has.

- ``embedded``: bake's own worker (always);
- ``docker``: the BuildKit built into the session's private dockerd (``tests/dockerd.py``; Debian's
  docker.io 20.10, BuildKit 0.8), as ``--builder default`` — CI's root pass runs it;
- ``remote``: a buildkitd at ``BAKE_TEST_BUILDKIT_HOST`` (skipped, saying so, without one), as a
  buildx store entry of the remote driver; its base image is pushed once per session to the registry
  of ``BAKE_TEST_BUILDKIT_BASE`` (default ``127.0.0.1:5000/library/busybox:latest``, the reference
  daemon's plain-HTTP registry), which is also taken for the daemon's docker.io mirror: bake
  resolves ``FROM busybox`` through it and pins the daemon to the digest it found there.

A test asserts the same outputs whatever the builder; where a builder lacks a feature, the test
says so with ``builder.fails_on(...)`` (a strict xfail: a daemon that gains it shows up) or
``builder.refuses(...)`` (a skip naming what is refused before anything builds).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BUILDERS = ("embedded", "docker", "remote")
REMOTE_HOST = os.environ.get("BAKE_TEST_BUILDKIT_HOST", "")
REMOTE_BASE = os.environ.get("BAKE_TEST_BUILDKIT_BASE", "127.0.0.1:5000/library/busybox:latest")


@dataclass(frozen=True)
class Builder:
    """Where a test's builds go: ``name`` (one of BUILDERS), the CLI arguments that select it, the
    environment of every ``bake`` run, and ``base``, a busybox image this builder can pull."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(hash=False)
    base: str
    request: pytest.FixtureRequest = field(hash=False, repr=False)

    def bake(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``bake --progress=plain [--builder …] ARGS`` in ``cwd``; the result, whatever its exit code."""
        return subprocess.run([sys.executable, "-m", "bake", "--progress=plain", *self.args, *args], cwd=cwd,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=300)

    def ok(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
        """As ``bake``, asserting success; its progress output."""
        r = self.bake(cwd, *args, env=env)
        assert r.returncode == 0, f"bake on {self.name} failed:\n{r.stderr}"
        return r.stderr

    def image_config(self, cwd: Path, target: str, tag: str) -> dict[str, Any]:
        """Build ``target`` as an image and return its config's ``config`` part (Env, Cmd, …): on the
        docker driver loaded into the engine as ``tag`` and inspected there (the driver writes no
        tarballs), elsewhere from a ``type=oci`` tarball."""
        if self.name == "docker":
            from bake.docker.client import DockerClient
            from bake.docker.context import Engine

            self.ok(cwd, "--set", f"{target}.tags={tag}", "--load", target)
            with DockerClient(Engine(self.env["DOCKER_HOST"])) as docker:
                image = docker.inspect(tag)
            assert image is not None, f"{tag} was not loaded"
            config: dict[str, Any] = image["Config"]
            return config
        self.ok(cwd, "--set", f"{target}.output=type=oci,dest=image.tar", target)
        with tarfile.open(cwd / "image.tar") as tf:
            def blob(digest: str) -> Any:
                f = tf.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
                assert f is not None
                return json.load(f)

            f = tf.extractfile("index.json")
            assert f is not None
            doc = json.load(f)
            while "manifests" in doc:  # an index (of one platform): its manifest
                doc = blob(doc["manifests"][0]["digest"])
            oci: dict[str, Any] = blob(doc["config"]["digest"])["config"]
            return oci

    def fails_on(self, **reasons: str) -> None:
        """A strict xfail on the builders named (``docker="BuildKit 0.8 lacks …"``)."""
        if self.name in reasons:
            self.request.node.add_marker(pytest.mark.xfail(reason=f"{self.name}: {reasons[self.name]}", strict=True))

    def refuses(self, **reasons: str) -> None:
        """Skip on the builders named: bake refuses the build there before anything runs, as the
        reason says (the refusal itself is tested beside the driver)."""
        if self.name in reasons:
            pytest.skip(f"refused on the {self.name} builder before building: {reasons[self.name]}")


def steps(progress: str) -> dict[str, str]:
    """Each step of a ``--progress=plain`` output (its name without the ``[targets stage n/m]``
    prefix) and how it ended: ``DONE`` (it ran), ``CACHED`` or ``ERROR``."""
    names: dict[str, str] = {}
    ended: dict[str, str] = {}
    for line in progress.splitlines():
        m = re.match(r"#(\d+) (.*)$", line)
        if not m:
            continue
        n, rest = m.groups()
        word = rest.split(" ", 1)[0]
        if word in ("DONE", "CACHED", "ERROR") or word.startswith("ERROR"):
            ended[n] = "CACHED" if word == "CACHED" or ended.get(n) == "CACHED" else word.rstrip(":")
        elif n not in names and not re.match(r"\d+\.\d+ ", rest):
            names[n] = re.sub(r"^\[[^\]]*\] ", "", rest)
    out: dict[str, str] = {}
    for n, name in names.items():
        if n in ended:
            # the same step reported by several solves (one per target): it ran if any ran it
            out[name] = ended[n] if out.get(name) in (None, "CACHED") else out[name]
    return out


def ran(progress: str, *words: str) -> list[str]:
    """The steps that ran (not cached) whose names contain every word: ``ran(out, "RUN")``."""
    return [name for name, how in steps(progress).items() if how == "DONE" and all(w in name for w in words)]


@pytest.fixture(scope="session")
def remote_base() -> str:
    """A busybox of this session only in the daemon's registry (``BAKE_TEST_BUILDKIT_BASE``'s, with an
    Env of the session's): the daemon outlives a test run and keeps its cache, so steps on this base
    are new to it, and a test that counts the steps a build ran holds on a second run too."""
    repo, _, _ = REMOTE_BASE.partition("/")
    run = uuid.uuid4().hex[:12]
    script = Path(__file__).resolve().parents[2] / "scripts" / "seed_registry.py"
    subprocess.run([sys.executable, str(script), repo, "--repo", f"bake-test/busybox:{run}", "--env",
                    f"BAKE_TEST_RUN={run}"], check=True, capture_output=True)
    return f"{repo}/bake-test/busybox:{run}"


@pytest.fixture(name="builder", params=BUILDERS)
def builder_fixture(request: pytest.FixtureRequest, tmp_path: Path, busybox_image: str, registry: str) -> Builder:
    """The builder of this run of the test (parametrised: embedded, docker, remote)."""
    name: str = request.param
    docker_config = tmp_path / "docker"
    config = tmp_path / "bake.toml"  # the embedded worker's docker.io mirror (FROM busybox in the examples)
    config.write_text(f'[registry."docker.io"]\nmirrors = ["{registry}"]\n')
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config), "BAKE_ROOT": str(tmp_path / "bake-root"),
           "BAKE_CONFIG": str(config)}
    env.pop("BUILDX_BUILDER", None)
    if name == "embedded":
        return Builder(name, (), env, busybox_image, request)
    if name == "docker":
        docker_host: str = request.getfixturevalue("dockerd")  # skips, saying why, where no engine can run
        return Builder(name, ("--builder", "default"), {**env, "DOCKER_HOST": docker_host}, busybox_image, request)
    if not REMOTE_HOST:
        pytest.skip("no BuildKit daemon for the remote builder: set BAKE_TEST_BUILDKIT_HOST=unix:///…/buildkitd.sock")
    # the daemon's docker.io mirror: the image source goes pinned to what bake resolved, so both see one busybox
    config.write_text(f'[registry."docker.io"]\nmirrors = ["{REMOTE_BASE.partition("/")[0]}"]\n')
    instances = docker_config / "buildx" / "instances"
    instances.mkdir(parents=True)
    (instances / "remote1").write_text(json.dumps({"Name": "remote1", "Driver": "remote", "Nodes": [
        {"Name": "remote10", "Endpoint": REMOTE_HOST, "Platforms": None, "DriverOpts": None, "Flags": None,
         "Files": None}], "Dynamic": False}))
    return Builder(name, ("--builder", "remote1"), env, request.getfixturevalue("remote_base"), request)
