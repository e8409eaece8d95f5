"""Per-registry settings from bake's config file, shaped like buildkitd.toml's ``[registry."host"]``::

    [registry."docker.io"]
    mirrors = ["mirror.internal:5000"]

    [registry."mirror.internal:5000"]
    http = true          # plain HTTP
    insecure = true      # HTTPS without certificate verification

The file is ``--config``/``$BAKE_CONFIG``, else ``$XDG_CONFIG_HOME/bake/bake.toml``
(``~/.config/bake/bake.toml``); a missing default file means no settings. Pulls try each mirror
in order and then the registry itself; pushes go only to the registry. Loopback registries are
plain HTTP without any setting, as Docker does.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping

from bake._record import record
from bake.errors import BakeError

_HOST = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d+)?$")
_KEYS = {"mirrors": list, "http": bool, "insecure": bool}


class ConfigError(BakeError):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@record
class HostSettings:
    mirrors: tuple[str, ...] = ()
    http: bool = False
    insecure: bool = False


class RegistryConfig:
    def __init__(self, hosts: Mapping[str, HostSettings] | None = None) -> None:
        self.hosts = dict(hosts or {})

    def host(self, name: str) -> HostSettings:
        return self.hosts.get(name, HostSettings())


def default_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "bake", "bake.toml")


def load(path: str | None = None) -> RegistryConfig:
    """The registry settings of ``path`` (or $BAKE_CONFIG, or the default file when present)."""
    explicit = path or os.environ.get("BAKE_CONFIG")
    path = explicit or default_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if explicit:
            raise ConfigError("config file not found", path) from None
        return RegistryConfig()
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(err), path) from None
    return parse(data, path)


def parse(data: Mapping[str, object], path: str = "<config>") -> RegistryConfig:
    registries = data.get("registry", {})
    if not isinstance(registries, dict):
        raise ConfigError("[registry] must be a table of hosts", path)
    hosts = {}
    for name, table in registries.items():
        if not _HOST.match(name):
            raise ConfigError(f'[registry."{name}"]: not a registry host[:port]', path)
        if not isinstance(table, dict):
            raise ConfigError(f'[registry."{name}"] must be a table', path)
        for key, value in table.items():
            kind = _KEYS.get(key)
            if kind is None:
                raise ConfigError(f'[registry."{name}"]: unknown setting {key!r} (known: {", ".join(_KEYS)})', path)
            if not isinstance(value, kind):
                raise ConfigError(f'[registry."{name}"].{key} must be a {kind.__name__}', path)
        mirrors = tuple(table.get("mirrors", ()))
        for mirror in mirrors:
            if not isinstance(mirror, str) or not _HOST.match(mirror):
                raise ConfigError(f'[registry."{name}"].mirrors: {mirror!r} is not a registry host[:port]', path)
        hosts[name] = HostSettings(mirrors, bool(table.get("http", False)), bool(table.get("insecure", False)))
    return RegistryConfig(hosts)
