"""bake.toml's [registry."host"] settings: parsing, errors, and the endpoints they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.registry.client import RegistryClient
from bake.registry.config import ConfigError, HostSettings, load, parse
from bake.registry.reference import parse_reference

pytestmark = pytest.mark.anyio

CONFIG = """
[registry."docker.io"]
mirrors = ["mirror.internal:5000", "10.0.0.7"]

[registry."mirror.internal:5000"]
http = true

[registry."10.0.0.7"]
insecure = true
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_settings_per_host(tmp_path: Path) -> None:
    path = tmp_path / "bake.toml"
    path.write_text(CONFIG)
    config = load(str(path))
    assert config.host("docker.io") == HostSettings(mirrors=("mirror.internal:5000", "10.0.0.7"))
    assert config.host("mirror.internal:5000").http and config.host("10.0.0.7").insecure
    assert config.host("ghcr.io") == HostSettings()


def test_default_file_is_optional_but_an_explicit_one_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("BAKE_CONFIG", raising=False)
    assert load().hosts == {}
    (tmp_path / "bake").mkdir()
    (tmp_path / "bake" / "bake.toml").write_text(CONFIG)
    assert "docker.io" in load().hosts
    monkeypatch.setenv("BAKE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml: config file not found"):
        load()


@pytest.mark.parametrize(("text", "message"), [
    ('[registry."a.io"]\nmirror = ["b.io"]\n', "unknown setting 'mirror' .known: mirrors, http, insecure"),
    ('[registry."a.io"]\nhttp = "yes"\n', r'\[registry."a.io"\].http must be a bool'),
    ('[registry."a.io"]\nmirrors = ["https://b.io/v2"]\n', "'https://b.io/v2' is not a registry host"),
    ('[registry."a b"]\n', "not a registry host"),
    ('[registry."a.io"\n', r"line 1"),
])
def test_bad_settings_are_named(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bake.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(str(path))


async def test_endpoints_follow_the_settings() -> None:
    import tomllib

    client = RegistryClient(config=parse(tomllib.loads(CONFIG)))
    try:
        pull = client.endpoints(parse_reference("alpine"))
        assert [(e.base, e.verify, e.mirror) for e in pull] == [
            ("http://mirror.internal:5000/v2/", True, True),
            ("https://10.0.0.7/v2/", False, True),
            ("https://registry-1.docker.io/v2/", True, False),
        ]
        push = client.endpoints(parse_reference("alpine"), push=True)
        assert [e.host for e in push] == ["docker.io"]  # pushes never go to a mirror
        assert client.endpoints(parse_reference("localhost:5000/app"))[0].base == "http://localhost:5000/v2/"
    finally:
        await client.aclose()


async def test_the_default_client_reads_both_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import json

    from bake.registry.client import default_client

    (tmp_path / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(b"me:pw").decode()}}}))
    (tmp_path / "bake.toml").write_text(CONFIG)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("BAKE_CONFIG", str(tmp_path / "bake.toml"))
    client = default_client()
    try:
        assert client.credentials("ghcr.io") == ("me", "pw") and client.credentials("quay.io") is None
        assert client.config.host("docker.io").mirrors == ("mirror.internal:5000", "10.0.0.7")
    finally:
        await client.aclose()
