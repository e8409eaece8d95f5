"""The resolved build plan: frozen targets and groups, as the rest of bake consumes them.

``None`` means *unset* throughout, which is distinct from empty: merging (``inherits``, several
files, ``--set``) is right-biased per field and only set fields override.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from typing import Any

from bake._record import record, replace
from bake.errors import DefinitionError

Attrs = tuple[tuple[str, str], ...]


@record
class ExportEntry:
    """One ``output`` entry (``type=local,dest=out``)."""

    type: str
    dest: str = ""
    attrs: Attrs = ()


@record
class CacheEntry:
    """One ``cache-from``/``cache-to`` entry (``type=registry,ref=…``)."""

    type: str
    attrs: Attrs = ()


@record
class OutputSpec:
    """One output, parsed from its ``ExportEntry`` and checked when the plan is made
    (``bake.exporter.specs``): what the exporter of ``type`` needs, typed. ``dest`` is as written
    ("" none, "-" stdout); ``names`` as written in ``name=`` (empty: the target's tags)."""

    type: str
    dest: str = ""
    names: tuple[str, ...] = ()
    push: bool = False
    tar: bool = True  # oci/docker: a tarball (else a layout directory)
    multi_target: bool = False  # oci/docker: one layout shared by every target naming this dest
    insecure: bool = False  # registry.insecure
    name_canonical: bool = False
    compression: str = "gzip"
    compression_level: int | None = None
    force_compression: bool = False
    oci_mediatypes: bool | None = None  # None: the type's default (true for every type, as BuildKit v0.32.2)
    rewrite_timestamp: bool = False
    annotations: Attrs = ()  # annotation.KEY=VALUE, as (KEY, VALUE)


@record
class CacheSpec:
    """One ``cache-from``/``cache-to`` entry, parsed and checked when the plan is made.
    ``supported`` is false for types bake reports and skips (gha, s3, azblob)."""

    type: str
    supported: bool = True
    mode: str = "min"  # cache-to: min (each target's result) or max (every step's)
    ref: str = ""  # type=registry
    src: str = ""  # cache-from type=local
    dest: str = ""  # cache-to type=local
    tag: str = ""  # type=local: the layout's tag ("" = latest on export, any on import)


@record
class SecretEntry:
    id: str = ""
    src: str = ""
    env: str = ""


@record
class SSHEntry:
    id: str
    paths: tuple[str, ...] = ()


@record
class AttestEntry:
    type: str
    disabled: bool = False
    attrs: Attrs = ()


@record
class Target:
    """A build target with every attribute buildx v0.36 knows. Field names follow the HCL keys."""

    _fields: tuple[str, ...]

    name: str
    description: str | None = None
    inherits: tuple[str, ...] | None = None
    annotations: tuple[str, ...] | None = None
    attest: tuple[AttestEntry, ...] | None = None
    context: str | None = None
    contexts: dict[str, str] | None = None
    dockerfile: str | None = None
    dockerfile_inline: str | None = None
    args: dict[str, str | None] | None = None
    labels: dict[str, str | None] | None = None
    tags: tuple[str, ...] | None = None
    cache_from: tuple[CacheEntry, ...] | None = None
    cache_to: tuple[CacheEntry, ...] | None = None
    target: str | None = None
    secret: tuple[SecretEntry, ...] | None = None
    ssh: tuple[SSHEntry, ...] | None = None
    platforms: tuple[str, ...] | None = None
    output: tuple[ExportEntry, ...] | None = None
    pull: bool | None = None
    no_cache: bool | None = None
    network: str | None = None
    no_cache_filter: tuple[str, ...] | None = None
    shm_size: str | None = None
    ulimits: tuple[str, ...] | None = None
    resources: dict[str, str] | None = None
    call: str | None = None
    entitlements: tuple[str, ...] | None = None
    extra_hosts: dict[str, str] | None = None
    policy: tuple[dict[str, Any], ...] | None = None
    # Where each local path was written (for BUILDX_BAKE_FILE_RELATIVE_PATHS); not printed.
    source_dir: str | None = None

    def evolve(self, **changes: Any) -> Target:
        return replace(self, **changes)


TARGET_FIELDS: tuple[str, ...] = tuple(f for f in Target._fields if f not in ("name", "source_dir"))


@record
class Group:
    name: str
    targets: tuple[str, ...] = ()
    description: str | None = None


@record
class Plan:
    """What ``bake`` will build: the printed groups and the resolved targets, in print order."""

    groups: dict[str, Group]
    targets: dict[str, Target]


# --- what target fields mean (read by the definition and by the build alike) --------------------


def clean_context(path: str) -> str:
    """``context`` as buildx prints it: local paths ``path.Clean``ed, URLs and ``cwd://`` handled."""
    if path.startswith("cwd://"):
        path = path[len("cwd://"):] or "."
    if "://" in path or path.startswith(("git@", "target:")) or path == "-":
        return path
    return posixpath.normpath(path) if path else "."


_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def ram_in_bytes(s: str) -> int:
    """go-units ``RAMInBytes``: ``128m``, ``1.5GiB``, ``512`` → bytes (binary multiples)."""
    m = _SIZE.match(s.strip())
    if not m:
        raise DefinitionError(f"invalid size: '{s}'")
    return int(float(m.group(1)) * 1024 ** "bkmgtp".index((m.group(2) or "b").lower()))


def platform_dir(platform: str) -> str:
    """The folder (or tar prefix) of one platform's files in a multi-platform local or tar output,
    as buildx names it: ``linux/arm64/v8`` → ``linux_arm64_v8``."""
    return platform.replace("/", "_")


def local_platform() -> str:
    """The platform of this machine (``linux/amd64``): ``BAKE_LOCAL_PLATFORM``, and what a target
    without ``platforms`` builds for."""
    machine = os.uname().machine.lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm/v7",
            "armv6l": "arm/v6", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
            "riscv64": "riscv64"}.get(machine, machine)
    return f"{sys.platform if sys.platform != 'linux' else 'linux'}/{arch}"


def build_platforms(platforms: tuple[str, ...] | None, host: str) -> tuple[str, ...]:
    """The platforms a target builds for: ``host`` when it names none, and ``local`` (buildx's
    name for the client's platform, any case) as ``host``; an entry ``a,b`` is two; each once, in order."""
    if not platforms:
        return (host,)
    return tuple(dict.fromkeys(host if p.lower() == "local" else p for e in platforms for p in e.split(",")))
