"""Which engine the user means, as the docker CLI decides it: DOCKER_HOST, DOCKER_CONTEXT, the
config's currentContext, and context files named by the sha256 of the context's name."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bake.docker import DockerError
from bake.docker.context import Engine, current_name, engine, exists


def make_context(config: Path, name: str, host: str, skip_verify: bool = False) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({
        "Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}}}))


def test_no_settings_is_the_default_socket(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert current_name(env) == "default"
    assert engine(None, env) == Engine("unix:///var/run/docker.sock")


def test_docker_host_is_the_default_context_and_wins_over_the_rest(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "tcp://10.0.0.1:2375", "DOCKER_CONTEXT": "other"}
    assert current_name(env) == "default"
    assert engine(None, env) == Engine("tcp://10.0.0.1:2375")


def test_docker_tls_verify_takes_certificates_from_docker_cert_path(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}
    assert engine(None, env) == Engine("tcp://h:2376", "default", "/certs", True)
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1"}
    assert engine(None, env).tls == str(tmp_path)


def test_current_context_from_the_environment_then_the_config(tmp_path: Path) -> None:
    make_context(tmp_path, "remote", "unix:///run/remote.sock")
    make_context(tmp_path, "other", "tcp://other:2375", skip_verify=True)
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert engine(None, env) == Engine("unix:///run/remote.sock", "remote")
    assert engine(None, {**env, "DOCKER_CONTEXT": "other"}) == Engine("tcp://other:2375", "other", "", False)
    assert exists("remote", env) and exists("default", env) and not exists("nope", env)


def test_a_context_with_tls_files(tmp_path: Path) -> None:
    make_context(tmp_path, "secure", "tcp://h:2376")
    tls = tmp_path / "contexts" / "tls" / hashlib.sha256(b"secure").hexdigest() / "docker"
    tls.mkdir(parents=True)
    assert engine("secure", {"DOCKER_CONFIG": str(tmp_path)}).tls == str(tls)


def test_unknown_and_broken_contexts_are_errors(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    with pytest.raises(DockerError, match="context 'nope' not found"):
        engine("nope", env)
    make_context(tmp_path, "empty", "")
    with pytest.raises(DockerError, match="context 'empty' has no docker endpoint"):
        engine("empty", env)


def test_every_context_default_first_then_by_name(tmp_path: Path) -> None:
    from bake.docker.context import names

    assert names({"DOCKER_CONFIG": str(tmp_path)}) == ["default"]
    make_context(tmp_path, "zeta", "unix:///z.sock")
    make_context(tmp_path, "alpha", "unix:///a.sock")
    (tmp_path / "contexts" / "meta" / "junk").mkdir()  # not a context: skipped
    assert names({"DOCKER_CONFIG": str(tmp_path)}) == ["default", "alpha", "zeta"]
