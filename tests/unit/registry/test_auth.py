"""Credentials from Docker's config.json: auths, credHelpers, credsStore (helpers run for real)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from bake.registry.auth import AuthError, DockerConfigCredentials


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-fake"
    script.write_text('#!/bin/sh\nread server\ncase "$server" in\n  ghcr.io) echo \'{"Username":"gh","Secret":"pat"}\' ;;\n'
                      '  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return script


def write(tmp_path: Path, config: dict[str, object]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_auths_helpers_and_store(tmp_path: Path, helper: Path) -> None:
    config = {
        "auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubuser:hubpass").decode()},
                  "registry.example.com": {"auth": base64.b64encode(b"u:p:with:colons").decode()}},
        "credHelpers": {"ghcr.io": "fake"},
    }
    creds = DockerConfigCredentials(write(tmp_path, config))
    assert creds("docker.io") == ("hubuser", "hubpass")
    assert creds("registry.example.com") == ("u", "p:with:colons")
    assert creds("ghcr.io") == ("gh", "pat")
    assert creds("quay.io") is None
    store = DockerConfigCredentials(write(tmp_path, {"credsStore": "fake"}))
    assert store("ghcr.io") == ("gh", "pat") and store("other.io") is None


def test_missing_helper_is_a_clear_error(tmp_path: Path) -> None:
    creds = DockerConfigCredentials(write(tmp_path, {"credsStore": "nope-not-installed"}))
    with pytest.raises(AuthError, match="docker-credential-nope-not-installed is not installed"):
        creds("ghcr.io")
