"""Which Docker engine the user means, as the docker CLI decides it.

The current context: ``default`` when ``DOCKER_HOST`` is set, else ``$DOCKER_CONTEXT``, else the
config's ``currentContext``, else ``default``. The ``default`` context is ``$DOCKER_HOST`` (or
``unix:///var/run/docker.sock``) with TLS when ``DOCKER_TLS_VERIFY`` or ``DOCKER_TLS`` is set (files
from ``DOCKER_CERT_PATH``, else the config directory); any
other context is read from ``$DOCKER_CONFIG/contexts/meta/<sha256 of its name>/meta.json``
(``Endpoints.docker.Host``), its TLS files from ``contexts/tls/<same>/docker/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from bake._record import record
from bake.docker import DockerError

DEFAULT = "default"
DEFAULT_HOST = "unix:///var/run/docker.sock"


@record
class Engine:
    """A Docker engine's endpoint: ``unix:///path`` or ``tcp://host:port``; ``tls`` names the
    directory holding ``ca.pem``/``cert.pem``/``key.pem`` ("" plain), ``context`` where it came from."""

    host: str
    context: str = DEFAULT
    tls: str = ""
    verify: bool = True


def config_dir(env: Mapping[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def current_name(env: Mapping[str, str]) -> str:
    """The context the docker CLI would use with no ``--context`` flag."""
    if env.get("DOCKER_HOST"):
        return DEFAULT
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"]
    try:
        with open(os.path.join(config_dir(env), "config.json"), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return DEFAULT
    name = doc.get("currentContext") if isinstance(doc, dict) else None
    return name if isinstance(name, str) and name else DEFAULT


def names(env: Mapping[str, str]) -> list[str]:
    """Every context: ``default``, then the stored ones in name order."""
    meta = os.path.join(config_dir(env), "contexts", "meta")
    found = []
    try:
        entries = os.listdir(meta)
    except OSError:
        entries = []
    for entry in entries:
        try:
            with open(os.path.join(meta, entry, "meta.json"), "rb") as f:
                doc = json.loads(f.read())
        except (OSError, ValueError):
            continue
        name = doc.get("Name") if isinstance(doc, dict) else None
        if isinstance(name, str) and name and name != DEFAULT:
            found.append(name)
    return [DEFAULT, *sorted(found)]


def exists(name: str, env: Mapping[str, str]) -> bool:
    """Whether ``name`` is a Docker context (``default`` always is)."""
    return name == DEFAULT or os.path.isfile(_meta_path(name, env))


def engine(name: str | None, env: Mapping[str, str]) -> Engine:
    """The endpoint of context ``name`` (None: the current one); an unknown or unreadable context
    is a ``DockerError``."""
    name = name or current_name(env)
    if name == DEFAULT:
        tls_on = bool(env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_TLS"))
        certs = (env.get("DOCKER_CERT_PATH") or config_dir(env)) if tls_on else ""
        return Engine(env.get("DOCKER_HOST") or DEFAULT_HOST, DEFAULT, certs, bool(env.get("DOCKER_TLS_VERIFY")) or not tls_on)
    path = _meta_path(name, env)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        raise DockerError(f"context {name!r} not found ({path})") from None
    except (OSError, ValueError) as err:
        raise DockerError(f"context {name!r}: cannot read {path}: {err}") from None
    ep = (doc.get("Endpoints") or {}).get("docker") if isinstance(doc, dict) else None
    if not isinstance(ep, dict) or not isinstance(ep.get("Host"), str) or not ep["Host"]:
        raise DockerError(f"context {name!r} has no docker endpoint ({path})")
    tls = os.path.join(config_dir(env), "contexts", "tls", _digest(name), "docker")
    return Engine(ep["Host"], name, tls if os.path.isdir(tls) else "", not ep.get("SkipTLSVerify"))


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _meta_path(name: str, env: Mapping[str, str]) -> str:
    return os.path.join(config_dir(env), "contexts", "meta", _digest(name), "meta.json")
