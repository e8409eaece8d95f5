"""COPY and ADD → file operations (context, stage, image and URL sources; heredocs; ``--link``)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from bake.dockerfile import instructions as ins
from bake.graph.ops import Copy, Mkfile, SourceOp, Vertex
from bake.graph.state import State, merge, scratch

_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst")


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def is_git(src: str) -> bool:
    return src.startswith(("git@", "git://")) or (is_url(src) and (src.endswith(".git") or ".git#" in src))


def copy(
    state: State,
    inst: ins.Copy,
    expand: Callable[[str], str],
    source_of: Callable[[str | None], State],
    cwd: str,
    name: str,
    expand_body: Callable[[str], str] = lambda text: text,
    ignore_cache: bool = False,
    link_name: str = "",
) -> State:
    """Apply one COPY/ADD to ``state``. ``source_of(from)`` gives the state files come from
    (the build context for None)."""
    dest = expand(inst.dest)
    # BuildKit: ".", "" and a trailing "/" (or "/.") name a directory, even where none exists yet (--link)
    dest_dir = dest in (".", "") or dest.endswith(("/", "/.")) or len(inst.sources) > 1
    dest = posixpath.normpath(posixpath.join(cwd or "/", dest))
    if dest_dir and not dest.endswith("/"):
        dest += "/"
    chown = expand(inst.chown) if inst.chown else ""
    chmod = expand(inst.chmod) if inst.chmod else ""
    frm = expand(inst.from_) if inst.from_ else None
    heredocs = {f"<<{h.name}": h for h in inst.heredocs}
    actions: list[tuple[Copy | Mkfile, State | None]] = []
    for raw in inst.sources:
        bare = raw.replace("<<-", "<<").replace("'", "").replace('"', "")  # <<-EOF, <<'EOF', <<"EOF"
        doc = heredocs.get(bare)
        if doc is not None:
            path = dest + doc.name if dest.endswith("/") else dest
            data = expand_body(doc.text()) if doc.expand else doc.text()
            mode = int(chmod, 8) if chmod.isdigit() else 0o644
            actions.append((Mkfile(path, data.encode(), mode, chown), None))
            continue
        src = expand(raw)
        source = _source(src, inst, frm, source_of)
        if source.vertex is None:
            # A scratch stage has no vertex to copy from; BuildKit copies from an empty mount,
            # so "/" copies nothing and a named file is "not found" when the step runs.
            source = scratch(source.platform).file((), name="scratch")
        path = "/" if (inst.add and (is_url(src) or is_git(src))) else src
        unpack = bool(inst.add and inst.unpack is not False and not is_url(src) and src.endswith(_ARCHIVES))
        actions.append((Copy(0, path, dest, chown=chown, chmod=chmod, exclude=inst.exclude, parents=inst.parents,
                             unpack=unpack, dir_contents_only=not is_url(src)), source))
    if not inst.link or inst.chmod:  # BuildKit links no copy with --chmod
        return state.file(tuple(actions), name=name, ignore_cache=ignore_cache)
    # --link: the files land on an empty layer that is merged on top, so the copy does not
    # depend on (or invalidate with) the layers below.
    layer = scratch(state.platform).file(tuple(actions), name=name, ignore_cache=ignore_cache)
    return merge((state, layer), name=link_name or name)


def git_identifier(src: str, keep_git_dir: bool) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``git@host:o/r.git#ref`` or ``https://host/o/r.git#ref`` → ``git://host/o/r.git#ref`` + attrs."""
    attrs: list[tuple[str, str]] = []
    if src.startswith("git@"):
        host, _, path = src[len("git@"):].partition(":")
        ident = f"git://{host}/{path}"
        attrs.append(("transport", "ssh"))
    else:
        ident = "git://" + src.split("://", 1)[-1]
    attrs.append(("fullurl", src.partition("#")[0]))  # where to fetch from (BuildKit's git.fullurl)
    if keep_git_dir:
        attrs.append(("keep-git-dir", "true"))
    return ident, tuple(attrs)


def _source(src: str, inst: ins.Copy, frm: str | None, source_of: Callable[[str | None], State]) -> State:
    if inst.add and is_git(src):
        return State(Vertex(SourceOp(*git_identifier(src, bool(inst.keep_git_dir))), (), None, src))
    if inst.add and is_url(src):
        attrs = (("checksum", inst.checksum),) if inst.checksum else ()
        return State(Vertex(SourceOp(src, attrs), (), None, src))
    return source_of(frm)
