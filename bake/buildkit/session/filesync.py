"""File transfer in a session, the client's half of fsutil's protocol and BuildKit's FileSend.

``send_tree``: the daemon reads a local context. We list the tree as STAT packets (paths
``/``-separated and relative, in walk order: each directory's entries sorted by name, a
directory's contents right after it), then an empty STAT. The daemon asks for the contents of
the regular files it lacks with REQ packets whose ID is the file's position in that listing;
each is answered by DATA packets and an empty DATA. The daemon's FIN is answered with FIN.

``receive_file``: the daemon streams an export (a tarball) as plain byte frames.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, BinaryIO

import grpc
import grpc.aio

from bake._record import record
from bake.buildkit.proto import control_pb2 as api
from bake.buildkit.proto import filesync_pb2 as fs

_CHUNK = 32 << 10  # fsutil's buffer size
_QUEUED = 64  # packets waiting for the daemon (2 MiB of file data at most)

# Go's os.FileMode type bits, which fsutil sends instead of st_mode's
_DIR, _SYMLINK, _DEVICE, _PIPE, _SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_SETUID, _SETGID, _CHARDEV, _STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


@record
class Tree:
    """A directory the daemon may read under a name, less what ``excludes`` (.dockerignore rules) drop."""

    path: str
    excludes: tuple[str, ...] = ()


Lister = Callable[[str, tuple[str, ...]], list[str]]  # (dir, excludes) → relative paths in walk order
Receiver = Callable[[], BinaryIO]  # opens where an export's bytes go


def go_mode(st_mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` bits."""
    mode = st_mode & 0o777
    if stat.S_ISDIR(st_mode):
        mode |= _DIR
    elif stat.S_ISLNK(st_mode):
        mode |= _SYMLINK
    elif stat.S_ISBLK(st_mode):
        mode |= _DEVICE
    elif stat.S_ISCHR(st_mode):
        mode |= _DEVICE | _CHARDEV
    elif stat.S_ISFIFO(st_mode):
        mode |= _PIPE
    elif stat.S_ISSOCK(st_mode):
        mode |= _SOCKET
    if st_mode & stat.S_ISUID:
        mode |= _SETUID
    if st_mode & stat.S_ISGID:
        mode |= _SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _STICKY
    return mode


def stats(tree: Tree, lister: Lister) -> list[tuple[fs.Stat, str | None]]:
    """The listing of a tree: each entry's Stat and, for regular files, the host path to read."""
    out: list[tuple[fs.Stat, str | None]] = []
    for rel in lister(tree.path, tree.excludes):
        full = os.path.join(tree.path, rel)
        st = os.lstat(full)
        s = fs.Stat(path=rel, mode=go_mode(st.st_mode), uid=st.st_uid, gid=st.st_gid, size=st.st_size,
                    modTime=st.st_mtime_ns)
        if stat.S_ISLNK(st.st_mode):
            s.linkname = os.readlink(full)
        if stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode):
            s.devmajor, s.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        out.append((s, full if stat.S_ISREG(st.st_mode) else None))
    return out


async def send_tree(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any],
                    trees: dict[str, Tree], lister: Lister) -> AsyncIterator[bytes]:
    md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    name = md.get("dir-name", "")
    tree = trees.get(name)
    if tree is None:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no access allowed to dir {name!r}")
        return
    listing = await asyncio.to_thread(stats, tree, lister)
    files = {i: full for i, (_, full) in enumerate(listing) if full is not None}
    # bounded: a big file is read as fast as the daemon takes it, never held in memory whole
    out: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_QUEUED)

    failed: list[BaseException] = []

    async def serve() -> None:
        try:
            await answer()
        except Exception as err:  # ends the stream below with this error (a cancellation just ends)
            failed.append(err)
        await out.put(None)

    async def answer() -> None:
        async for raw in requests:
            p = fs.Packet.FromString(raw)
            if p.type == fs.Packet.PACKET_REQ:
                full = files.pop(p.ID, None)
                if full is None:
                    raise ValueError(f"invalid file id {p.ID}")
                with open(full, "rb") as f:
                    while block := await asyncio.to_thread(f.read, _CHUNK * 32):  # one thread hop per MiB
                        for i in range(0, len(block), _CHUNK):
                            data = block[i:i + _CHUNK]
                            await out.put(fs.Packet(type=fs.Packet.PACKET_DATA, ID=p.ID, data=data).SerializeToString())
                await out.put(fs.Packet(type=fs.Packet.PACKET_DATA, ID=p.ID).SerializeToString())
            elif p.type == fs.Packet.PACKET_FIN:
                await out.put(fs.Packet(type=fs.Packet.PACKET_FIN).SerializeToString())
                break
            elif p.type == fs.Packet.PACKET_ERR:
                raise ValueError(f"error from receiver: {p.data.decode(errors='replace')}")

    task = asyncio.create_task(serve())
    try:
        for s, _ in listing:
            yield fs.Packet(type=fs.Packet.PACKET_STAT, stat=s).SerializeToString()
        yield fs.Packet(type=fs.Packet.PACKET_STAT).SerializeToString()
        while (item := await out.get()) is not None:
            yield item
        if failed:
            await context.abort(grpc.StatusCode.INTERNAL, f"sending {name}: {failed[0]}")
    finally:
        task.cancel()


async def receive_file(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any],
                       receiver: Receiver | Mapping[int, Receiver]) -> AsyncIterator[bytes]:
    """One export's bytes; with several exporters in a solve, the daemon names which one by its
    position in the request (header ``buildkit-attachable-exporter-id``, 0 without it)."""
    if not callable(receiver):
        md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        which = md.get("buildkit-attachable-exporter-id", "0")
        chosen = receiver.get(int(which)) if which.isdigit() else None
        if chosen is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no receiver for exporter {which}")
            return
        receiver = chosen
    with receiver() as f:
        async for raw in requests:
            f.write(api.BytesMessage.FromString(raw).data)
    return
    yield b""  # an async generator that answers nothing
