"""The build graph's operations: pure, frozen data (our analogue of BuildKit's LLB ops).

A ``Vertex`` is an op applied to input vertices on a platform. Its digest (``digest.py``) covers
the op's fields, the inputs' digests and the platform — never the human-facing ``name``, so two
targets that share a step produce the same vertex and the merged graph holds it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bake._record import record


@record
class SourceOp:
    """Where bytes come from. ``identifier`` is a URL-like string: ``docker-image://docker.io/library/alpine:3.19``,
    ``local://context``, ``git://github.com/o/r.git#ref``, ``https://…``, ``oci-layout://…``;
    ``attrs`` are source options (include/exclude patterns, checksum, keep-git-dir …)."""

    identifier: str
    attrs: tuple[tuple[str, str], ...] = ()


@record
class Mount:
    """A mount of an exec. ``input`` indexes the vertex inputs (None: an empty directory).
    ``output`` marks the mount whose changes form the result (the root filesystem)."""

    target: str
    type: str = "bind"  # bind | cache | tmpfs | secret | ssh
    input: int | None = None
    selector: str = ""  # path inside the input
    readonly: bool = False
    output: bool = False
    cache_id: str = ""
    sharing: str = ""  # shared | private | locked
    secret_id: str = ""
    env: str = ""  # a secret exposed as this environment variable
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None  # tmpfs bytes


@record
class ExecOp:
    """Run a process in a container built from the mounts."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    mounts: tuple[Mount, ...]
    network: str = "default"  # default | none | host
    security: str = "sandbox"  # sandbox | insecure
    extra_hosts: tuple[str, ...] = ()
    shm_size: int | None = None
    ulimits: tuple[str, ...] = ()


@record
class Copy:
    """Copy ``src`` of input ``source`` to ``dest`` of the file op's base (input 0 unless no base)."""

    source: int
    src: str
    dest: str
    chown: str = ""
    chmod: str = ""
    follow_symlinks: bool = True
    dir_contents_only: bool = False
    create_dest_path: bool = True
    allow_wildcard: bool = True
    allow_empty_wildcard: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    parents: bool = False
    unpack: bool = False
    timestamp: int | None = None


@record
class Mkdir:
    path: str
    mode: int = 0o755
    make_parents: bool = False
    chown: str = ""


@record
class Mkfile:
    path: str
    data: bytes
    mode: int = 0o644
    chown: str = ""


@record
class Rm:
    path: str
    allow_not_found: bool = False
    allow_wildcard: bool = False


FileAction = Copy | Mkdir | Mkfile | Rm


@record
class FileOp:
    """File actions applied in order on a base (input ``base``; None starts from an empty tree)."""

    base: int | None
    actions: tuple[FileAction, ...]


@record
class MergeOp:
    """Layer the inputs on top of each other (``COPY --link``): later inputs win."""


Op = SourceOp | ExecOp | FileOp | MergeOp


@record
class Vertex:
    """An op on its inputs, for a platform. ``name`` is progress metadata only (not in the digest)."""

    op: Op
    inputs: tuple[Vertex, ...] = ()
    platform: str | None = None
    name: str = ""
    ignore_cache: bool = False
    location: str = ""  # "Dockerfile:12" or "Dockerfile:12-14": the instruction it came from (not in the digest)


def each_vertex(roots: Iterable[Vertex]) -> Iterator[Vertex]:
    """Every vertex below ``roots`` once (by identity: a shared step is one object), depth first."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        yield v
        stack.extend(v.inputs)
