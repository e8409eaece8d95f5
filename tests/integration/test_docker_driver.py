"""bake --builder NAME where NAME is a Docker context (buildx's docker driver): the build runs on
the BuildKit built into dockerd (Debian's docker.io, 20.10: BuildKit 0.8), reached through the
engine's /grpc upgrade; ``--load`` puts the image, with bake's config, into the engine's store.

The engine is the session's private dockerd (``tests/dockerd.py``); the base image comes from the
session's registry on loopback, which dockerd pulls over plain HTTP (127.0.0.0/8 is insecure by
default).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bake.docker.client import DockerClient
from bake.docker.context import Engine

pytestmark = pytest.mark.root


def _project(tmp_path: Path, docker_host: str, base: str, body: str) -> dict[str, str]:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.txt").write_text("hello from the context\n")
    (tmp_path / "ctx" / "skip.log").write_text("ignored\n")
    (tmp_path / "ctx" / ".dockerignore").write_text("*.log\n")
    (tmp_path / "docker-bake.hcl").write_text(body.replace("BASE", base))
    return {**os.environ, "DOCKER_HOST": docker_host, "DOCKER_CONFIG": str(tmp_path / "docker"),
            "BAKE_ROOT": str(tmp_path / "root")}


def _bake(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bake", "--progress=plain", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


TWO_TARGETS = '''
group "default" { targets = ["a", "b"] }
target "base" {
  context = "ctx"
  dockerfile-inline = <<EOT
FROM BASE AS build
RUN echo shared > /shared.txt
COPY . /ctx/
RUN ls /ctx > /listing.txt
FROM scratch
COPY --from=build /shared.txt /listing.txt /ctx/hello.txt /
EOT
}
target "a" {
  inherits = ["base"]
  output = ["type=local,dest=out/a"]
}
target "b" {
  inherits = ["base"]
  output = ["type=tar,dest=out/b.tar"]
}
'''


def test_two_targets_with_a_local_context_export_locally(tmp_path: Path, dockerd: str, busybox_image: str) -> None:
    env = _project(tmp_path, dockerd, busybox_image, TWO_TARGETS)
    r = _bake(tmp_path, env, "--builder", "default")
    assert r.returncode == 0, r.stderr
    assert f"builder default (docker): node default at {dockerd}" in r.stderr
    a = tmp_path / "out" / "a"
    assert (a / "shared.txt").read_text() == "shared\n"
    assert (a / "hello.txt").read_text() == "hello from the context\n"
    assert (a / "listing.txt").read_text().split() == ["hello.txt"]  # .dockerignore honoured
    with tarfile.open(tmp_path / "out" / "b.tar") as tf:
        assert sorted(tf.getnames()) == ["hello.txt", "listing.txt", "shared.txt"]


LOADED = '''
target "app" {
  context = "ctx"
  dockerfile-inline = <<EOT
FROM BASE
COPY hello.txt /hello.txt
RUN echo built > /built.txt
ENV GREETING=hello
LABEL org.example.role=test
WORKDIR /srv
CMD ["cat", "/built.txt"]
EOT
  tags = ["TAG:1", "TAG:latest"]
}
'''


def _loaded(tmp_path: Path, dockerd: str, busybox_image: str, *args: str) -> tuple[str, DockerClient]:
    tag = f"bake-test/{tmp_path.name.lower()}"
    env = _project(tmp_path, dockerd, busybox_image, LOADED.replace("TAG", tag))
    docker = DockerClient(Engine(dockerd))
    docker.remove(f"{tag}:1")
    docker.remove(f"{tag}:latest")
    r = _bake(tmp_path, env, *args, "--load", "app")
    assert r.returncode == 0, r.stderr
    return tag, docker


def _check_image(docker: DockerClient, tag: str) -> None:
    listed = docker.images(tag)  # every tag of the repository
    assert len(listed) == 1  # one image under both tags
    assert sorted(listed[0]["RepoTags"]) == [f"{tag}:1", f"{tag}:latest"]
    image = docker.inspect(f"{tag}:1")
    assert image is not None
    config = image["Config"]
    assert config["Cmd"] == ["cat", "/built.txt"]
    assert "GREETING=hello" in config["Env"]
    assert config["Labels"] == {"org.example.role": "test"}
    assert config["WorkingDir"] == "/srv"
    assert len(image["RootFS"]["Layers"]) == 4  # busybox, COPY, RUN, and WORKDIR making /srv (as BuildKit)


def test_load_on_the_docker_driver_puts_the_image_and_its_config_into_the_engine(
        tmp_path: Path, dockerd: str, busybox_image: str) -> None:
    tag, docker = _loaded(tmp_path, dockerd, busybox_image, "--builder", "default")
    with docker:
        _check_image(docker, tag)


def test_a_failing_step_on_the_docker_driver_is_the_build_error(tmp_path: Path, dockerd: str,
                                                                busybox_image: str) -> None:
    env = _project(tmp_path, dockerd, busybox_image, '''
target "bad" {
  dockerfile-inline = <<EOT
FROM BASE
RUN echo about to fail && exit 3
EOT
  tags = ["bake-test/bad:1"]
}
''')
    r = _bake(tmp_path, env, "--builder", "default", "--load", "bad")
    assert r.returncode != 0
    assert "exit code: 3" in r.stderr
    assert "about to fail" in r.stderr


def test_outputs_the_engine_cannot_write_are_refused_before_building(tmp_path: Path, dockerd: str,
                                                                    busybox_image: str) -> None:
    env = _project(tmp_path, dockerd, busybox_image, LOADED.replace("TAG", "bake-test/refused"))
    r = _bake(tmp_path, env, "--builder", "default", "--set", "app.output=type=docker,dest=app.tar", "app")
    assert r.returncode != 0
    assert "keeps images in its own store" in r.stderr
    assert "RUN echo built" not in r.stderr  # nothing built
    assert not (tmp_path / "app.tar").exists()


def test_an_unreachable_engine_names_the_builder(tmp_path: Path, busybox_image: str) -> None:
    env = _project(tmp_path, f"unix://{tmp_path}/absent.sock", busybox_image, TWO_TARGETS)
    r = _bake(tmp_path, env, "--builder", "default")
    assert r.returncode != 0
    assert "builder 'default', node 'default'" in r.stderr
    assert "cannot reach the engine" in r.stderr


def test_load_with_the_embedded_worker_streams_the_image_into_the_engine(
        tmp_path: Path, dockerd: str, busybox_image: str) -> None:
    tag, docker = _loaded(tmp_path, dockerd, busybox_image)
    with docker:
        _check_image(docker, tag)


def test_type_docker_with_dest_still_writes_a_tarball_and_loads_nothing(
        tmp_path: Path, dockerd: str, busybox_image: str) -> None:
    tag = f"bake-test/{tmp_path.name.lower()}"
    env = _project(tmp_path, dockerd, busybox_image, LOADED.replace("TAG", tag))
    r = _bake(tmp_path, env, "--set", "app.output=type=docker,dest=app.tar", "app")
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "app.tar") as tf:
        assert "manifest.json" in tf.getnames()
    with DockerClient(Engine(dockerd)) as docker:
        assert docker.images(tag) == []


def test_load_into_an_unreachable_engine_names_the_output_and_the_engine(tmp_path: Path, busybox_image: str) -> None:
    env = _project(tmp_path, f"unix://{tmp_path}/absent.sock", busybox_image, LOADED.replace("TAG", "bake-test/x"))
    r = _bake(tmp_path, env, "--load", "app")
    assert r.returncode != 0
    assert "target app: output type=docker (--load)" in r.stderr
    assert f"docker engine at unix://{tmp_path}/absent.sock" in r.stderr


REMOTE = os.environ.get("BAKE_TEST_BUILDKIT_HOST", "")


@pytest.mark.skipif(not REMOTE, reason="no BuildKit daemon: set BAKE_TEST_BUILDKIT_HOST=unix:///…/buildkitd.sock")
def test_load_on_a_remote_builder_loads_the_tarball_it_sends_back(tmp_path: Path, dockerd: str,
                                                                 busybox_image: str) -> None:
    inst = tmp_path / "docker" / "buildx" / "instances"
    inst.mkdir(parents=True)
    (inst / "remote1").write_text('{"Name": "remote1", "Driver": "remote", "Nodes": [{"Name": "remote10", '
                                  f'"Endpoint": "{REMOTE}"}}]}}')
    tag, docker = _loaded(tmp_path, dockerd, os.environ.get("BAKE_TEST_BUILDKIT_BASE", "127.0.0.1:5000/library/busybox:latest"),
                          "--builder", "remote1")
    with docker:
        _check_image(docker, tag)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(tmp_path: Path, name: str, dockerd: str, registry: str) -> dict[str, str]:
    import shutil

    shutil.copytree(EXAMPLES / name, tmp_path / name)
    (tmp_path / "bake.toml").write_text(f'[registry."docker.io"]\nmirrors = ["{registry}"]\n')
    return {**os.environ, "DOCKER_HOST": dockerd, "DOCKER_CONFIG": str(tmp_path / "docker"),
            "BAKE_ROOT": str(tmp_path / "root"), "BAKE_CONFIG": str(tmp_path / "bake.toml")}


def test_the_go_cross_example_builds_and_loads_on_the_docker_driver(tmp_path: Path, dockerd: str, registry: str,
                                                                     busybox_image: str) -> None:
    # one platform: the engine serves its own (buildx refuses several on the docker driver too)
    env = _example(tmp_path, "go-cross", dockerd, registry)
    r = _bake(tmp_path / "go-cross", env, "--builder", "default", "--set", "*.platform=linux/amd64",
              "--load", "default", "binaries")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "go-cross" / "bin" / "hello").read_text().startswith("#!/bin/sh")
    with DockerClient(Engine(dockerd)) as docker:
        image = docker.inspect("example/hello:0.1.0")
        assert image is not None
        assert image["Config"]["Entrypoint"] == ["hello"]
        assert image["Architecture"] == "amd64"


def test_the_node_monorepo_example_loads_its_production_image(tmp_path: Path, dockerd: str, registry: str,
                                                               busybox_image: str) -> None:
    env = _example(tmp_path, "node-monorepo", dockerd, registry)
    r = _bake(tmp_path / "node-monorepo", env, "--builder", "default", "--set", "*.platform=linux/amd64",
              "--load", "production")
    assert r.returncode == 0, r.stderr
    with DockerClient(Engine(dockerd)) as docker:
        assert docker.images("registry.example.com/web"), r.stderr


def test_an_engine_over_tls_builds_and_loads(tmp_path: Path, dockerd_tls: tuple[str, str], busybox_image: str) -> None:
    host, certs = dockerd_tls
    tag = f"bake-test/{tmp_path.name.lower()}"
    env = {**_project(tmp_path, host, busybox_image, LOADED.replace("TAG", tag)), "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": certs}
    for args in (("--builder", "default"), ()):  # the docker driver, then the embedded worker's --load
        with DockerClient(Engine(host, tls=certs)) as docker:
            docker.remove(f"{tag}:1")
            r = _bake(tmp_path, env, *args, "--load", "app")
            assert r.returncode == 0, r.stderr
            _check_image(docker, tag)
    r = _bake(tmp_path, {**env, "DOCKER_CERT_PATH": str(tmp_path)}, "--builder", "default", "--load", "app")
    assert r.returncode != 0  # no client certificate there: the engine refuses the connection
    assert "builder 'default', node 'default'" in r.stderr
