"""Registry credentials from Docker's ``config.json``: ``auths``, ``credsStore`` and ``credHelpers``.

``credentials(registry)`` returns (user, secret) or None. Helpers are run as Docker runs them:
``docker-credential-<name> get`` with the server address on stdin and JSON on stdout.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Mapping

from bake.errors import BakeError

HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


class AuthError(BakeError):
    """A credential helper failed, or config.json is unreadable."""


def config_path(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


class DockerConfigCredentials:
    def __init__(self, path: str | None = None) -> None:
        self.path = path or config_path()
        self.config: dict[str, object] = {}
        if os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    self.config = json.load(f)
            except (OSError, ValueError) as err:
                raise AuthError(f"cannot read {self.path}: {err}") from None

    def __call__(self, registry: str) -> tuple[str, str] | None:
        keys = HUB_KEYS if registry in HUB_KEYS else (registry, f"https://{registry}", f"http://{registry}")
        helpers = self.config.get("credHelpers") or {}
        assert isinstance(helpers, dict)
        for key in keys:
            if key in helpers:
                return _helper(str(helpers[key]), key)
        auths = self.config.get("auths") or {}
        assert isinstance(auths, dict)
        for key in keys:
            entry = auths.get(key)
            if isinstance(entry, dict) and entry.get("auth"):
                user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, secret
            if isinstance(entry, dict) and entry.get("identitytoken"):
                return "<token>", str(entry["identitytoken"])
        store = self.config.get("credsStore")
        if store:
            return _helper(str(store), keys[0])
        return None


def _helper(name: str, server: str) -> tuple[str, str] | None:
    try:
        proc = subprocess.run([f"docker-credential-{name}", "get"], input=server, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise AuthError(f"credential helper docker-credential-{name} is not installed") from None
    if proc.returncode != 0:
        if "credentials not found" in (proc.stdout + proc.stderr).lower():
            return None
        raise AuthError(f"docker-credential-{name} get failed: {proc.stderr.strip() or proc.stdout.strip()}")
    try:
        data = json.loads(proc.stdout)
        return str(data["Username"]), str(data["Secret"])
    except (ValueError, KeyError) as err:
        raise AuthError(f"docker-credential-{name} returned unexpected output: {err}") from None
