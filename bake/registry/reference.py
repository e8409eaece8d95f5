"""Image references, normalised as Docker does (``alpine`` → ``docker.io/library/alpine:latest``)."""

from __future__ import annotations

import ipaddress
import re

from bake._record import record
from bake.errors import BakeError

_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


class InvalidReference(BakeError):
    """A malformed image reference."""


@record
class Reference:
    registry: str  # docker.io, ghcr.io, localhost:5000 …
    repository: str  # library/alpine
    tag: str = ""
    digest: str = ""

    @property
    def api_host(self) -> str:
        """Where the registry API lives (Docker Hub's API is at registry-1.docker.io)."""
        return "registry-1.docker.io" if self.registry == "docker.io" else self.registry

    @property
    def insecure_by_default(self) -> bool:
        """Loopback registries are reached over plain HTTP without configuration, as Docker does."""
        return is_loopback(self.registry)

    @property
    def object(self) -> str:
        """What to fetch: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``[::1]``, with or without a port."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_reference(text: str) -> Reference:
    rest, _, digest = text.partition("@")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise InvalidReference(f"invalid reference {text!r}: bad digest")
    first, sep, path = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, remainder = first, path
    else:
        registry, remainder = "docker.io", rest
    name, tag = remainder, ""
    last = remainder.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = remainder.rsplit(":", 1)
    if registry == "docker.io" and "/" not in name:
        name = "library/" + name
    if not _NAME.match(name):
        raise InvalidReference(f"invalid reference {text!r}: repository name must be lowercase")
    if tag and not _TAG.match(tag):
        raise InvalidReference(f"invalid reference {text!r}: bad tag")
    if not tag and not digest:
        tag = "latest"
    return Reference(registry, name, tag, digest)
