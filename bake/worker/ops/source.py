"""Source ops → snapshots: images (pulled, unpacked as shared layer chains), local contexts (the
files ``.dockerignore`` keeps, copied into a snapshot), git repositories and https files.

Each source also answers what its cache key reads (``salt``): the manifest digest an image
reference resolves to, the checksum of a context, the commit a git ref names, the digest of a
downloaded file. A salt never needs the source's snapshot, so a cached build does not fetch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Sequence

import anyio

from bake.content import oci
from bake.content.atomic import disk_full_is_an_error
from bake.graph.ops import SourceOp, Vertex
from bake.registry.reference import parse_reference
from bake.solver.protocols import Log
from bake.worker import keys
from bake.worker.context import files
from bake.worker.errors import SourceError, UnsupportedSource
from bake.worker.remote import dockerfile_name, fetch_git, fetch_url
from bake.worker.state import WorkerState


async def salt(state: WorkerState, op: SourceOp, platform: str | None) -> str:
    k = keys.kind(op)
    if k == "image":
        image = parse_reference(op.identifier[len("docker-image://"):])
        manifest = await state.images.manifest(state.client, image, _platform(state, platform), state.pull)
        return manifest.digest
    if k == "git":
        remote, ref, _ = _git(op)
        return await anyio.to_thread.run_sync(_ls_remote, remote, ref)
    if k == "url":
        path = await _download(state, op)
        return await anyio.to_thread.run_sync(_file_digest, path)
    raise UnsupportedSource(f"source {op.identifier}: not supported yet")


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


async def run(state: WorkerState, v: Vertex, inputs: Sequence[str], log: Log) -> str:
    assert isinstance(v.op, SourceOp)
    return await materialize(state, v.op, v.platform, log)


async def materialize(state: WorkerState, op: SourceOp, platform: str | None,
                      log: Callable[[bytes], None] | None = None) -> str:
    """A committed snapshot with the source's content (``log`` hears what a pull fetches)."""
    k = keys.kind(op)
    if k == "image":
        image = parse_reference(op.identifier[len("docker-image://"):])
        sid, _ = await state.images.pull(state.client, image, _platform(state, platform), log=log)
        return sid
    snapshots = state.snapshots
    sid = snapshots.prepare(None)
    dest = snapshots.upper(sid)
    try:
        if k == "local":
            with disk_full_is_an_error(dest, "the copy of the build context"):
                await anyio.to_thread.run_sync(_copy_context, keys.context_dir(state.cwd, op), keys.excludes(op), dest)
        elif k == "git":
            remote, ref, subdir = _git(op)
            keep = dict(op.attrs).get("keep-git-dir") == "true"
            await anyio.to_thread.run_sync(lambda: fetch_git(remote, ref, subdir, dest, keep))
        else:
            path = await _download(state, op)
            shutil.copy2(path, os.path.join(dest, os.path.basename(path)))
    except BaseException:
        snapshots.remove(sid)
        raise
    return snapshots.commit(sid)


def _platform(state: WorkerState, platform: str | None) -> oci.Platform:
    return oci.Platform.parse(platform or state.host_platform)


def _git(op: SourceOp) -> tuple[str, str, str]:
    """(remote URL, ref, subdir) of ``git://host/repo#ref:subdir``."""
    attrs = dict(op.attrs)
    rest, _, fragment = op.identifier.partition("#")
    ref, _, subdir = fragment.partition(":")
    remote = attrs.get("fullurl") or "https://" + rest[len("git://"):]
    return remote, ref, subdir


def _ls_remote(remote: str, ref: str) -> str:
    """The commit ``ref`` names now (a full commit id is its own answer)."""
    if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref):
        return ref
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(["git", "ls-remote", remote, ref or "HEAD"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SourceError(f"git ls-remote {remote} {ref or 'HEAD'}: {proc.stderr.strip()}")
    lines = proc.stdout.split()
    if not lines:
        raise SourceError(f"git ref {ref!r} not found in {remote}")
    return lines[0]


async def _download(state: WorkerState, op: SourceOp) -> str:
    """The file a URL names, fetched once per build into the build's scratch directory."""
    key = hashlib.sha256(op.identifier.encode()).hexdigest()[:16]
    dest = os.path.join(state.scratch, "downloads", key)
    async with state.lock(f"download {key}"):
        if not os.path.isdir(dest) or not os.listdir(dest):
            os.makedirs(dest, exist_ok=True)
            await fetch_url(op.identifier, dest, dict(op.attrs).get("checksum", ""), dockerfile_name(op.identifier))
    (name,) = os.listdir(dest)
    return os.path.join(dest, name)


def _copy_context(src: str, patterns: list[str], dest: str) -> None:
    """Copy the context's selected entries (not following symlinks), keeping modes and times."""
    dirs: list[tuple[str, os.stat_result]] = []
    for rel in files(src, patterns):
        s, d = os.path.join(src, rel), os.path.join(dest, rel)
        st = os.lstat(s)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if stat.S_ISDIR(st.st_mode):
            os.makedirs(d, exist_ok=True)
            dirs.append((d, st))
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)  # a layer records its time
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(s, d)
            shutil.copystat(s, d)
        else:
            continue  # sockets, fifos and devices are not sent, as with Docker's context transfer
    for d, st in reversed(dirs):  # after their contents, or copying would move the times again
        os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
