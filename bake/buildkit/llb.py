"""bake's graph → BuildKit's LLB: one ``pb.Definition`` per solved result.

Each bake vertex becomes one ``pb.Op``; its LLB digest is sha256 of the op's deterministic bytes
(inputs are referenced by those digests), so identical steps of different targets become
identical LLB vertices and BuildKit runs them once across concurrent solves. Names travel in
``OpMetadata`` (``llb.customname``), never in the op, as bake keeps names out of its own digests.

What bake's graph can say but this slice cannot send yet is refused up front
(``NotSupportedRemote``), never dropped silently.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Mapping

from bake._record import record
from bake.buildkit import NotSupportedRemote
from bake.buildkit.proto import llb_pb2 as pb
from bake.graph.ops import (
    Copy,
    ExecOp,
    FileAction,
    FileOp,
    MergeOp,
    Mkdir,
    Mkfile,
    Mount,
    Rm,
    SourceOp,
    Vertex,
)

EMPTY = -1  # an input index meaning "an empty directory" (BuildKit's pb.Empty)
SKIP = -1  # an output index meaning "no result" (BuildKit's pb.SkipOutput)
_NET = {"default": pb.UNSET, "none": pb.NONE, "host": pb.HOST}
_Index = Callable[[int | None], int]
_GIT_ATTRS = {"fullurl": "git.fullurl", "keep-git-dir": "git.keepgitdir", "transport": "git.mountsshsock"}
_SHARING = {"": pb.SHARED, "shared": pb.SHARED, "private": pb.PRIVATE, "locked": pb.LOCKED}


@record
class LocalDir:
    """A local context the session serves: the name the daemon asks for, where it is, what to skip."""

    name: str
    path: str  # as the graph says (relative to the bake file's directory, or absolute)
    excludes: tuple[str, ...] = ()


@record
class Marshalled:
    """The definition of one result, the bake vertex of each LLB digest (for progress), and the
    local directories it reads."""

    definition: pb.Definition
    vertices: Mapping[str, Vertex]
    locals: tuple[LocalDir, ...]


def local_name(identifier: str, attrs: tuple[tuple[str, str], ...]) -> str:
    """A stable name for a local context with its filters: the same directory with other patterns
    is another transfer, so another name."""
    h = hashlib.sha256(repr((identifier, attrs)).encode()).hexdigest()[:16]
    return f"context-{h}"


class _Marshaller:
    def __init__(self, session_id: str, pull: bool = False, pins: Mapping[tuple[str, str], str] | None = None) -> None:
        self.session_id = session_id
        self.pull = pull
        self.pins = pins or {}
        self.ops: list[bytes] = []
        self.metadata: dict[str, pb.OpMetadata] = {}
        self.digests: dict[int, str | None] = {}  # id(vertex) → LLB digest; None: an empty tree
        self.vertices: dict[str, Vertex] = {}
        self.locals: dict[str, LocalDir] = {}

    def add(self, root: Vertex) -> str | None:
        """Marshal ``root`` and everything below it (inputs first, without recursion)."""
        stack = [root]
        while stack:
            v = stack[-1]
            pending = [i for i in v.inputs if id(i) not in self.digests]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if id(v) not in self.digests:
                self.digests[id(v)] = self._marshal(v)
        return self.digests[id(root)]

    def _marshal(self, v: Vertex) -> str | None:
        inputs = [self.digests[id(i)] for i in v.inputs]
        op = pb.Op()
        used: list[str] = []  # LLB inputs, deduplicated; an empty tree is not an input

        def index(i: int | None) -> int:
            if i is None or inputs[i] is None:
                return EMPTY
            d = inputs[i]
            assert d is not None
            if d not in used:
                used.append(d)
            return used.index(d)

        def extra(d: str) -> int:  # an input that is no bake vertex (cache mount permissions)
            if d not in used:
                used.append(d)
            return used.index(d)

        o = v.op
        if isinstance(o, SourceOp):
            self._source(op, o, v.platform or "")
        elif isinstance(o, ExecOp):
            self._exec(op, o, index, lambda m: extra(self._cache_base(m, inputs)))
        elif isinstance(o, FileOp):
            if o.base is None and not o.actions:
                return None  # scratch: BuildKit's empty input, not a vertex
            self._file(op, o, index, used, v.inputs)
        elif isinstance(o, MergeOp):
            for i in range(len(v.inputs)):
                if inputs[i] is not None:
                    op.merge.inputs.add(input=index(i))
        for d in used:
            op.inputs.add(digest=d, index=0)
        if v.platform and not isinstance(o, FileOp | MergeOp):  # file and merge ops are not platform specific
            op.platform.CopyFrom(platform(v.platform))
        data = op.SerializeToString(deterministic=True)
        dgst = "sha256:" + hashlib.sha256(data).hexdigest()
        if dgst not in self.vertices:
            self.ops.append(data)
            self.vertices[dgst] = v
            md = pb.OpMetadata(ignore_cache=v.ignore_cache)
            if v.name:
                md.description["llb.customname"] = v.name
            self.metadata[dgst] = md
        return dgst

    def _source(self, op: pb.Op, o: SourceOp, platform: str) -> None:
        scheme, _, rest = o.identifier.partition("://")
        if scheme == "docker-image":
            # pinned to the digest whose config bake used, as BuildKit's frontend pins what it resolved:
            # the daemon never resolves the tag again (it may have moved since)
            pin = self.pins.get((rest, platform)) if "@" not in rest else None
            op.source.identifier = f"{o.identifier}@{pin}" if pin else o.identifier
            for k, val in o.attrs:
                raise NotSupportedRemote(f"image source option {k}={val}")
            if self.pull:  # --pull: the daemon asks the registry, never its own copy of the tag
                op.source.attrs["image.resolvemode"] = "pull"
        elif scheme == "local":
            attrs = dict(o.attrs)
            unknown = sorted(set(attrs) - {"exclude"})
            if unknown:
                raise NotSupportedRemote(f"local context option {unknown[0]} ({o.identifier})")
            name = local_name(o.identifier, o.attrs)
            excludes = tuple(p for p in attrs.get("exclude", "").split("\n") if p)
            self.locals[name] = LocalDir(name, o.identifier[len("local://"):], excludes)
            op.source.identifier = f"local://{name}"
            op.source.attrs["local.session"] = self.session_id
            op.source.attrs["local.sharedkeyhint"] = name
        elif scheme == "git":
            op.source.identifier = o.identifier  # git://host/path#ref: BuildKit's id for any transport
            for k, val in o.attrs:
                if k not in _GIT_ATTRS:
                    raise NotSupportedRemote(f"git source option {k}={val} ({o.identifier})")
                if k == "transport":  # ssh: the daemon clones through the session's default agent
                    op.source.attrs["git.mountsshsock"] = "default"
                else:
                    op.source.attrs[_GIT_ATTRS[k]] = val
            # as BuildKit's client: a token or header for HTTPS remotes is asked of the session by
            # these secret ids (bake's `secret` entries; none: anonymous)
            op.source.attrs["git.authtokensecret"] = "GIT_AUTH_TOKEN"
            op.source.attrs["git.authheadersecret"] = "GIT_AUTH_HEADER"
        elif scheme in ("http", "https"):
            op.source.identifier = o.identifier
            for k, val in o.attrs:
                if k != "checksum":
                    raise NotSupportedRemote(f"URL source option {k}={val} ({o.identifier})")
                op.source.attrs["http.checksum"] = val
            op.source.attrs["http.filename"] = url_filename(o.identifier)
        else:
            raise NotSupportedRemote(f"{scheme} sources ({o.identifier})")

    def _cache_base(self, m: Mount, inputs: list[str | None]) -> str:
        """As BuildKit's Dockerfile frontend gives a cache mount its owner and mode: its base (the
        ``from=`` input, else empty) with ``/cache`` made on it, mounted from ``/cache``."""
        base = inputs[m.input] if m.input is not None else None
        op = pb.Op()
        if base is not None:
            op.inputs.add(digest=base, index=0)
        fa = op.file.actions.add(input=0 if base is not None else EMPTY, secondaryInput=EMPTY, output=0)
        fa.mkdir.CopyFrom(pb.FileActionMkDir(path="/cache", mode=m.mode if m.mode is not None else 0o755,
                                             timestamp=-1))
        fa.mkdir.owner.user.byID = m.uid or 0
        fa.mkdir.owner.group.byID = m.gid or 0
        data = op.SerializeToString(deterministic=True)
        dgst = "sha256:" + hashlib.sha256(data).hexdigest()
        if dgst not in self.metadata:
            self.ops.append(data)
            self.metadata[dgst] = pb.OpMetadata(description={"llb.customname": "[internal] setting cache mount permissions"})
        return dgst

    def _exec(self, op: pb.Op, o: ExecOp, index: _Index, cache_base: Callable[[Mount], int]) -> None:
        if o.shm_size is not None:
            raise NotSupportedRemote("shm-size")
        meta = op.exec.meta
        meta.args.extend(o.args)
        meta.env.extend(o.env)
        ssh = [m for m in o.mounts if m.type == "ssh"]
        if ssh and not any(e.startswith("SSH_AUTH_SOCK=") for e in o.env):  # as BuildKit's client: the first agent
            meta.env.append(f"SSH_AUTH_SOCK={ssh[0].target}")
        meta.cwd = o.cwd
        meta.user = o.user
        # as BuildKit's own LLB client sends every exec: the mount points the step made (parents
        # too, e.g. /run of /run/secrets/x) are removed afterwards, so they stay out of the result
        meta.removeMountStubsRecursive = True
        for entry in o.extra_hosts:
            host, _, ip = entry.partition("=")
            meta.extraHosts.add(Host=host, IP=ip)
        for entry in o.ulimits:
            name, _, limits = entry.partition("=")
            soft, _, hard = limits.partition(":")
            meta.ulimit.add(Name=name, Soft=int(soft), Hard=int(hard or soft))
        op.exec.network = _NET[o.network]
        op.exec.security = pb.INSECURE if o.security == "insecure" else pb.SANDBOX
        for m in o.mounts:
            if m.type == "secret" and m.env:  # a secret as an environment variable (and a file when it has a target)
                op.exec.secretenv.add(ID=m.secret_id, name=m.env, optional=not m.required)
                if not m.target:
                    continue
            mount = _mount(m, index)
            if m.type == "cache" and m.selector in ("", "/") and (m.mode, m.uid, m.gid) != (None, None, None):
                # BuildKit's frontend applies them only to a mount of the base's root
                mount.input = cache_base(m)
                mount.selector = "/cache"
            op.exec.mounts.append(mount)

    def _file(self, op: pb.Op, o: FileOp, index: _Index, used: list[str], inputs: tuple[Vertex, ...]) -> None:
        actions = [_action(_from_url(a, inputs), o.base, index) for a in o.actions]
        base = index(o.base)
        for n, (kind, action, secondary) in enumerate(actions):
            fa = op.file.actions.add()
            # the first action works on the base, each later one on its predecessor's result,
            # which LLB numbers after the op's inputs (all known by now)
            fa.input = base if n == 0 else len(used) + n - 1
            fa.secondaryInput = secondary
            fa.output = 0 if n + 1 == len(actions) else SKIP
            getattr(fa, kind).CopyFrom(action)
        if not actions:  # a base with no actions: copy nothing onto it
            fa = op.file.actions.add(input=base, secondaryInput=EMPTY, output=0)
            fa.mkdir.CopyFrom(pb.FileActionMkDir(path="/", mode=0o755, makeParents=True, timestamp=-1))

    def finish(self, result: str) -> pb.Definition:
        terminal = pb.Op()
        terminal.inputs.add(digest=result, index=0)
        d = pb.Definition()
        d.ops.extend([*self.ops, terminal.SerializeToString(deterministic=True)])
        for k, md in self.metadata.items():
            d.metadata[k].CopyFrom(md)
        return d


def marshal(root: Vertex, session_id: str = "", pull: bool = False,
            pins: Mapping[tuple[str, str], str] | None = None) -> Marshalled:
    """The definition of ``root``'s result; ``session_id`` is the session serving local contexts;
    ``pull`` (--pull): image references are resolved at their registry, never from the daemon's copy;
    ``pins``: (image reference, platform) → the digest its source is pinned to (one not listed, or
    already pinned by digest, goes as written)."""
    m = _Marshaller(session_id, pull, pins)
    result = m.add(root)
    if result is None:
        raise NotSupportedRemote("a result that is an empty filesystem (FROM scratch with nothing added)")
    return Marshalled(m.finish(result), m.vertices, tuple(m.locals.values()))


def platform(spec: str) -> pb.Platform:
    parts = spec.split("/")
    p = pb.Platform(OS=parts[0], Architecture=parts[1] if len(parts) > 1 else "")
    if len(parts) > 2:
        p.Variant = parts[2]
    return p


def _mount(m: Mount, index: _Index) -> pb.Mount:
    out = pb.Mount(dest=m.target, selector=m.selector if m.selector not in ("", "/") else "",
                   readonly=m.readonly, output=0 if m.output else SKIP)
    if m.type == "bind":
        out.input = index(m.input)
    elif m.type == "cache":
        out.mountType = pb.CACHE
        out.input = index(m.input)
        out.cacheOpt.ID = m.cache_id
        out.cacheOpt.sharing = _SHARING[m.sharing]
    elif m.type == "tmpfs":
        out.mountType = pb.TMPFS
        out.input = EMPTY
        if m.size:
            out.TmpfsOpt.size = m.size
    elif m.type in ("secret", "ssh"):
        out.mountType = pb.SECRET if m.type == "secret" else pb.SSH
        out.input = EMPTY
        out.output = SKIP
        opt = out.secretOpt if m.type == "secret" else out.SSHOpt
        opt.ID = m.secret_id
        opt.uid = m.uid or 0
        opt.gid = m.gid or 0
        opt.mode = m.mode if m.mode is not None else (0o400 if m.type == "secret" else 0o600)
        opt.optional = not m.required
    else:
        raise NotSupportedRemote(f"RUN --mount=type={m.type}")
    return out


def _action(a: FileAction, base: int | None, index: _Index) -> tuple[str, object, int]:
    """(oneof field, message, secondary input) of one file action."""
    if isinstance(a, Copy):
        src, include, required = a.src, list(a.include), []
        if a.parents:  # as BuildKit's frontend: copy the pivot's contents, kept to the pattern
            pivot, sep, pattern = src.partition("/./")
            src, pattern = (pivot, pattern) if sep else ("/", src)
            pattern = posixpath.normpath("/" + pattern).lstrip("/")
            include = [pattern]
            if not any(ch in src + pattern for ch in "*?["):
                required = [posixpath.join(_abs(src), pattern)]
        c = pb.FileActionCopy(
            src=_abs(src), dest=a.dest, followSymlink=a.follow_symlinks, dirCopyContents=a.dir_contents_only,
            attemptUnpackDockerCompatibility=a.unpack, createDestPath=a.create_dest_path,
            allowWildcard=a.allow_wildcard, allowEmptyWildcard=a.allow_empty_wildcard,
            timestamp=a.timestamp * 1_000_000_000 if a.timestamp is not None else -1,
            include_patterns=include, exclude_patterns=list(a.exclude), mode=-1, required_paths=required,
        )
        if a.parents:
            c.dirCopyContents = c.followSymlink = c.createDestPath = c.allowWildcard = c.allowEmptyWildcard = True
        if a.chmod:
            if all(ch in "01234567" for ch in a.chmod):
                c.mode = int(a.chmod, 8)
            else:
                c.modeStr = a.chmod
        if a.chown:
            _owner(c.owner, a.chown, index(base))
        return "copy", c, index(a.source)
    if isinstance(a, Mkfile):
        f = pb.FileActionMkFile(path=a.path, mode=a.mode, data=a.data, timestamp=-1)
        if a.chown:
            _owner(f.owner, a.chown, index(base))
        return "mkfile", f, EMPTY
    if isinstance(a, Mkdir):
        d = pb.FileActionMkDir(path=a.path, mode=a.mode, makeParents=a.make_parents, timestamp=-1)
        if a.chown:
            _owner(d.owner, a.chown, index(base))
        return "mkdir", d, EMPTY
    assert isinstance(a, Rm)
    return "rm", pb.FileActionRm(path=a.path, allowNotFound=a.allow_not_found, allowWildcard=a.allow_wildcard), EMPTY


def url_filename(url: str) -> str:
    """The name a downloaded file gets in BuildKit's http source: the URL path's last part, as
    BuildKit's Dockerfile frontend names it."""
    from urllib.parse import urlparse

    name = posixpath.basename(urlparse(url).path)
    return name if name not in ("", ".", "/") else "__unnamed__"


def _from_url(a: FileAction, inputs: tuple[Vertex, ...]) -> FileAction:
    """A copy of a URL's download: bake's source is the file itself, BuildKit's a directory
    holding it under ``url_filename``."""
    if not isinstance(a, Copy):
        return a
    src = inputs[a.source].op
    if isinstance(src, SourceOp) and src.identifier.startswith(("http://", "https://")) and a.src in ("", "/"):
        from bake._record import replace

        return replace(a, src="/" + url_filename(src.identifier))
    return a


def _abs(src: str) -> str:
    """A copy source relative to its input's root, as BuildKit's client cleans it."""
    p = posixpath.normpath(posixpath.join("/", src))
    if src.endswith("/") and p != "/":
        p += "/"
    elif src.endswith("/.") and p != "/":
        p += "/."
    return p


def _owner(owner: pb.ChownOpt, spec: str, base: int) -> None:
    """``user[:group]``, each a number or a name looked up in the destination's passwd/group."""
    user, _, group = spec.partition(":")
    for opt, value in ((owner.user, user), (owner.group, group)):
        if not value:
            continue
        if value.isdigit():
            opt.byID = int(value)
        else:
            opt.byName.name = value
            opt.byName.input = base
