"""RUN → exec: the command line (shell/exec form, heredocs) and ``--mount`` → graph mounts."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from bake.dockerfile import instructions as ins
from bake.dockerfile.mounts import Mount as MountSpec
from bake.graph.ops import Mount
from bake.graph.state import State

DEFAULT_SHELL = ("/bin/sh", "-c")


def command(run: ins.Run, shell: tuple[str, ...]) -> tuple[str, ...]:
    """The process arguments of a RUN.

    ``RUN <<EOF`` alone runs the heredoc as the shell script; any other heredoc use hands the
    shell the command line followed by the heredoc bodies, as a shell would read them."""
    if not run.command.shell:
        return run.command.args
    line = run.command.args[0] if run.command.args else ""
    sh = shell or DEFAULT_SHELL
    if run.heredocs:
        words = line.split()
        if len(run.heredocs) == 1 and len(words) == 1 and words[0].lstrip("0123456789").startswith("<<"):
            return (*sh, run.heredocs[0].text())
        script = line + "\n" + "".join(h.text() + h.name + "\n" for h in run.heredocs)
        return (*sh, script)
    return (*sh, line)


def mounts(
    specs: tuple[MountSpec, ...],
    expand: Callable[[str], str],
    source_of: Callable[[str | None], State | None],
    cwd: str,
) -> tuple[tuple[Mount, State | None], ...]:
    """Graph mounts for ``RUN --mount`` specs. ``source_of(from)`` gives the state a mount reads
    (a stage, an image, a named context, or the build context for None)."""
    out: list[tuple[Mount, State | None]] = []
    ssh_count = 0
    for spec in specs:
        target = _abs(expand(spec.target), cwd) if spec.target else ""
        if not target and spec.type in ("bind", "cache", "tmpfs"):
            target = cwd or "/"  # BuildKit mounts at the working directory when no target is given
        frm = expand(spec.from_) if spec.from_ else None
        source = expand(spec.source) if spec.source else ""
        if spec.type == "bind":
            m = Mount(target, "bind", selector=source or "/", readonly=spec.readonly)
            out.append((m, source_of(frm)))
        elif spec.type == "cache":
            m = Mount(target, "cache", selector=source, cache_id=expand(spec.id) if spec.id else target,
                      sharing=spec.sharing or "shared", readonly=spec.readonly, mode=spec.mode, uid=spec.uid, gid=spec.gid)
            out.append((m, source_of(frm) if frm else None))
        elif spec.type == "tmpfs":
            out.append((Mount(target, "tmpfs", size=spec.size), None))
        elif spec.type == "secret":
            sid = expand(spec.id) if spec.id else posixpath.basename(target)
            if not target and not spec.env:
                target = f"/run/secrets/{sid}"
            m = Mount(target, "secret", secret_id=sid, env=spec.env or "", required=spec.required, readonly=True,
                      mode=spec.mode if spec.mode is not None else 0o400, uid=spec.uid, gid=spec.gid)
            out.append((m, None))
        else:  # ssh
            sid = expand(spec.id) if spec.id else "default"
            if not target:
                target = f"/run/buildkit/ssh_agent.{ssh_count}"
            ssh_count += 1
            m = Mount(target, "ssh", secret_id=sid, required=spec.required, readonly=True,
                      mode=spec.mode if spec.mode is not None else 0o600, uid=spec.uid, gid=spec.gid)
            out.append((m, None))
    return tuple(out)


def _abs(path: str, cwd: str) -> str:
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd or "/", path))
