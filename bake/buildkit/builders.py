"""Builders as buildx stores them: ``$DOCKER_CONFIG/buildx/instances/<name>`` (``~/.docker`` by
default), one JSON document per builder: ``{"Name", "Driver", "Nodes": [{"Name", "Endpoint",
"Platforms", "DriverOpts", "Flags", "Files"}], "Dynamic"}``. bake only reads the store.

``--builder NAME`` (else ``$BUILDX_BUILDER``) selects one; without either, or with the name
``embedded``, the build runs on bake's embedded worker (``None`` here).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence

from bake._record import record
from bake.buildkit import BuilderError

EMBEDDED = "embedded"
SUPPORTED_DRIVERS = ("remote",)
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9.\-_]*$")  # buildx's store.ValidateName


@record
class Node:
    name: str
    endpoint: str  # unix:///path or tcp://host:port
    platforms: tuple[str, ...] = ()  # os/arch[/variant] the user pinned; () = what the daemon reports
    driver_opts: tuple[tuple[str, str], ...] = ()


@record
class Builder:
    name: str
    driver: str
    nodes: tuple[Node, ...]


def config_dir(env: Mapping[str, str]) -> str:
    """Docker's config directory: ``$DOCKER_CONFIG``, else ``~/.docker``."""
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def selected_name(flag: str | None, env: Mapping[str, str]) -> str | None:
    """The builder the user asked for (the flag wins over ``BUILDX_BUILDER``); None: embedded."""
    name = flag or env.get("BUILDX_BUILDER") or None
    return None if name is None or name == EMBEDDED else name


def load(name: str, env: Mapping[str, str]) -> Builder:
    """Read builder ``name`` from buildx's store; an unknown or unreadable builder is a ``BuilderError``."""
    if not _NAME.match(name):
        raise BuilderError("invalid name: it needs to start with a letter and may not contain symbols, "
                           "except ._-", name)
    store = os.path.join(config_dir(env), "buildx", "instances")
    path = os.path.join(store, name.lower())  # buildx stores names lower-cased
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        from bake.buildkit.drivers.docker import context_builder  # not in the store: a Docker context?

        found = context_builder(name, env)
        if found is not None:
            return found
        raise BuilderError(f"no such builder in {store} (create it with `docker buildx create --name {name} "
                           "--driver remote unix:///path/to/buildkitd.sock`, or use the embedded worker: "
                           "--builder embedded)", name) from None
    except (OSError, ValueError) as err:
        raise BuilderError(f"cannot read {path}: {err}", name) from None
    return parse(doc, name)


def parse(doc: object, name: str) -> Builder:
    """A builder from its store document (buildx's ``store.NodeGroup``)."""
    if not isinstance(doc, dict):
        raise BuilderError("the store entry is not a JSON object", name)
    nodes = []
    for raw in doc.get("Nodes") or ():
        if not isinstance(raw, dict):
            raise BuilderError("a node of the store entry is not a JSON object", name)
        opts = raw.get("DriverOpts") or {}
        nodes.append(Node(str(raw.get("Name") or ""), str(raw.get("Endpoint") or ""),
                          tuple(_platform(p) for p in raw.get("Platforms") or ()),
                          tuple(sorted((str(k), str(v)) for k, v in opts.items()))))
    return Builder(str(doc.get("Name") or name), str(doc.get("Driver") or ""), tuple(nodes))


def _platform(p: object) -> str:
    if not isinstance(p, dict):
        return str(p)
    parts = [str(p.get("os") or "linux"), str(p.get("architecture") or "")]
    if p.get("variant"):
        parts.append(str(p["variant"]))
    return "/".join(parts)


@record
class TLS:
    """A node's TLS files as buildx's remote driver takes them (``--driver-opt cacert=…,cert=…,key=…``):
    absolute paths; ``servername`` defaults to the endpoint's host."""

    cacert: str
    cert: str = ""
    key: str = ""
    servername: str = ""


_TLS_KEYS = ("cacert", "cert", "key", "servername")
_REMOTE_OPTS = (*_TLS_KEYS, "default-load")


def tls(builder: Builder, node: Node) -> TLS | None:
    """The node's TLS settings (None: plain), checked as buildx checks them."""
    opts = dict(node.driver_opts)
    if not any(k in opts for k in _TLS_KEYS):
        return None
    for k in ("cacert", "cert", "key"):
        if opts.get(k) and not os.path.isabs(opts[k]):
            raise BuilderError(f"non-absolute path {opts[k]!r} provided for {k}", builder.name, node.name)
    missing = [k for k, bad in (("cacert", not opts.get("cacert")), ("key", bool(opts.get("cert")) and not opts.get("key")),
                                ("cert", bool(opts.get("key")) and not opts.get("cert"))) if bad]
    if missing:
        raise BuilderError(f"tls enabled, but missing keys {', '.join(missing)}", builder.name, node.name)
    host = node.endpoint.partition("://")[2].rpartition(":")[0].strip("[]")
    return TLS(opts["cacert"], opts.get("cert", ""), opts.get("key", ""), opts.get("servername") or host)


def check(builder: Builder) -> tuple[Node, ...]:
    """The nodes bake builds on, after refusing what it cannot drive (before anything builds)."""
    if builder.driver == "docker":
        from bake.buildkit.drivers import docker

        return docker.check(builder)
    if builder.driver not in SUPPORTED_DRIVERS:
        raise BuilderError(f"driver {builder.driver!r} is not supported yet (supported: embedded, docker, "
                           f"{', '.join(SUPPORTED_DRIVERS)})", builder.name)
    if not builder.nodes:
        raise BuilderError("the builder has no nodes", builder.name)
    for node in builder.nodes:
        unknown = [k for k, _ in node.driver_opts if k not in _REMOTE_OPTS]
        if unknown:
            raise BuilderError(f"invalid driver option {unknown[0]} for remote driver", builder.name, node.name)
        scheme = node.endpoint.partition("://")[0]
        if scheme not in ("unix", "tcp"):
            raise BuilderError(f"endpoint {node.endpoint!r}: only unix:// and tcp:// are supported yet",
                               builder.name, node.name)
        if scheme == "unix" and tls(builder, node) is not None:
            raise BuilderError("TLS options need a tcp:// endpoint", builder.name, node.name)
    return builder.nodes


def route(platform: str, served: Sequence[Sequence[str]]) -> int | None:
    """The node that builds ``platform``: the first whose platforms (pinned in the store, else what
    its workers report) include it exactly, else the first serving its os/arch (a variant the
    node lists without), else None."""
    for i, platforms in enumerate(served):
        if platform in platforms:
            return i
    base = "/".join(platform.split("/")[:2])
    for i, platforms in enumerate(served):
        if any("/".join(p.split("/")[:2]) == base for p in platforms):
            return i
    return None
