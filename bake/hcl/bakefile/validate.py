"""Checks buildx makes while turning targets into build options, which ``--print`` also runs.

Secret files must exist, SSH sources must be usable, local outputs need a destination, and
platforms, ``shm-size``, ulimits, annotations and resources must parse.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping

from bake.errors import DefinitionError
from bake.model import Target, ram_in_bytes

KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd",
    "plan9", "solaris", "wasip1", "windows",
})
KNOWN_ARCH = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle", "mips64",
    "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390", "s390x",
    "sparc", "sparc64", "wasm", "x86_64", "aarch64", "armhf", "armel", "i386", "x86-64",
})
ULIMITS = frozenset({
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
    "rttime", "sigpending", "stack",
})
_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_target(t: Target, cwd: str, env: Mapping[str, str]) -> None:
    """Raise ``DefinitionError`` naming ``t`` if buildx would refuse to build it."""
    try:
        _check(t, cwd, env)
    except DefinitionError as err:
        raise DefinitionError(f"target {t.name}: {err.summary}", err.detail) from None


def _check(t: Target, cwd: str, env: Mapping[str, str]) -> None:
    for entry in t.platforms or ():
        for p in entry.split(","):  # buildx splits each entry at commas when it parses them
            check_platform(p)
    for o in t.output or ():
        if o.type == "local" and not o.dest:
            raise DefinitionError("dest is required for local exporter")
    for s in t.secret or ():
        if s.env:
            continue
        src = s.src
        if not src:
            if s.id and s.id in env:
                continue
            src = s.id
        path = src if os.path.isabs(src) else os.path.join(cwd, src)
        if not os.path.exists(path):
            raise DefinitionError(f"failed to stat {src}", "no such file or directory")
    for ssh in t.ssh or ():
        if not ssh.paths:
            if not env.get("SSH_AUTH_SOCK"):
                raise DefinitionError("invalid empty ssh agent socket", "make sure SSH_AUTH_SOCK is set")
            continue
        for p in ssh.paths:
            path = p if os.path.isabs(p) else os.path.join(cwd, p)
            if not os.access(path, os.R_OK):
                raise DefinitionError(f"failed to read ssh source {p}", "no such file or directory")
    if t.shm_size:
        check_size(t.shm_size)
    for u in t.ulimits or ():
        name, sep, value = u.partition("=")
        if not sep:
            raise DefinitionError(f"invalid ulimit argument: {u}")
        if name not in ULIMITS:
            raise DefinitionError(f"invalid ulimit type: {name}")
        soft, _, hard = value.partition(":")
        for v in (soft, hard) if hard else (soft,):
            if not re.fullmatch(r"-?\d+", v):
                raise DefinitionError(f'invalid ulimit value: strconv.ParseInt: parsing "{v}": invalid syntax')
    for a in t.annotations or ():
        if "=" not in a:
            raise DefinitionError(f'invalid annotation "{a}", expected key=value')
    for key, value in (t.resources or {}).items():
        if key in ("memory", "memory-swap"):
            if value != "-1":
                check_size(value)
        elif key in ("cpu-shares", "cpu-period", "cpu-quota") and not re.fullmatch(r"-?\d+", value):
            raise DefinitionError(f"invalid {key}: {value}")


def check_size(s: str) -> None:
    ram_in_bytes(s)


@functools.lru_cache(maxsize=256)
def check_platform(p: str) -> None:
    """containerd's ``platforms.Parse`` rules: ``os[/arch[/variant]]``, or a lone known os or arch;
    ``local`` (the client's platform, as buildx reads it) too."""
    if p.lower() == "local":
        return
    parts = p.split("/")
    bad = DefinitionError(f'"{p}": unknown operating system or architecture', "invalid argument")
    if not 1 <= len(parts) <= 3 or not all(_PART.match(x) for x in parts):
        raise DefinitionError(f'"{p}": invalid platform specifier', "invalid argument")
    if len(parts) == 1:
        if parts[0].lower() not in KNOWN_OS and parts[0].lower() not in KNOWN_ARCH:
            raise bad
        return
    if parts[0].lower() not in KNOWN_OS:
        raise bad
