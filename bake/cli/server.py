"""A build server: bake's modules imported once, a forked copy of the process per command.

``bake.cli.client`` starts one in the background the first time a command finds none, and hands it
every later command with its streams, working directory, environment and signals (the protocol is
described there). Each command runs in its own fork, in its own session, exactly as ``bake.cli.main``
runs in a process of its own — the server itself runs nothing but ``accept`` and ``fork``, so a
failing or killed command cannot harm it or another. It exits after ``BAKE_SERVER_IDLE`` seconds
(default 600) without a command, or once its socket is gone or replaced, or bake's code changed (an
edit or an upgrade has a server of its own: this one would only hold its memory).

Run as ``python -m bake.cli.server SOCKET`` with the client's fingerprint on stdin.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import io
import marshal
import os
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any

from bake.cli.client import at_path
from bake.cli.fingerprint import code_files, package_directory

#: What a build, ``--print`` and the progress displays import: done once, here, before any fork.
WARM_MODULES = (
    "bake.cli.commands", "bake.cli.build", "bake.cli.maintenance", "bake.cli.render",
    "bake.app", "bake.app.build", "bake.app.outputs", "bake.app.cache", "bake.app.remote", "bake.app.explain",
    "bake.hcl.bakefile.loader", "bake.hcl.bakefile.printer", "bake.hcl.engine.parse", "bake.dockerfile.convert",
    "bake.worker.worker", "bake.worker.backend", "bake.registry.config", "bake.registry.client",
    "bake.progress.plain", "bake.progress.tty", "bake.progress.rawjson",
    "anyio", "anyio._backends._asyncio", "httpx",
)
POLL_SECONDS = 2.0
_PEERCRED = struct.Struct("3i")


def serve(path: str, facts: bytes, idle: float) -> None:
    """Listen at ``path`` until idle for ``idle`` seconds, the socket is no longer this server's, or
    bake's code changed."""
    package = package_directory()
    code = code_files(package)  # before the imports: an edit made while they run is one too
    warm()
    if threading.active_count() > 1:  # a fork would copy a thread's locks but not the thread
        return
    listener, inode = _listen(path)
    if listener is None:
        return
    os.chdir("/")  # the first client's directory stays unmountable no longer than its command
    gc.freeze()  # the forks share the imported heap instead of copying it on the collector's first pass
    last = time.monotonic()
    forks: dict[int, socket.socket] = {}  # each running command's connection, to say how it ended
    while True:
        _reap(forks)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            # Edited or upgraded code has its own server now: this one would only hold its memory.
            if not _still_ours(path, inode) or time.monotonic() - last > idle or code_files(package) != code:
                break
            continue
        last = time.monotonic()
        if _peer_uid(conn) != os.getuid():
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            try:
                for other in forks.values():  # another command's client waits for its end to close
                    other.close()
                _run(conn, facts)
            finally:
                os._exit(1)  # never back into the server's loop
        forks[pid] = conn
    if _still_ours(path, inode):
        with contextlib.suppress(OSError):
            os.unlink(path)


def warm() -> None:
    """Import what commands need, and build the command line's parser once."""
    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from bake.cli.commands import click_command

    click_command()


def _listen(path: str) -> tuple[socket.socket | None, int]:
    """A listening socket at ``path``, or ``None`` when a live server already has it. Bound under a
    temporary name and linked into place, so no client ever meets a half-made socket."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = f"{path}.{os.getpid()}.bind"
    at_path(listener.bind, temporary)
    listener.listen(64)
    try:
        if _alive(path):
            return None, 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a dead server's
        os.link(temporary, path)
    except OSError:
        listener.close()
        return None, 0
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    listener.settimeout(POLL_SECONDS)
    return listener, os.stat(path).st_ino


def _alive(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        at_path(probe.connect, path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _reap(forks: dict[int, socket.socket]) -> None:
    """Collect the commands that ended; to the client of one a signal killed (the OOM killer's
    SIGKILL, a crash), ``K`` and the signal, so it ends as a process of its own would have."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        conn = forks.pop(pid, None)
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            with contextlib.suppress(OSError):
                conn.sendall(b"K" + bytes([os.WTERMSIG(status)]))
        conn.close()


def _peer_uid(conn: socket.socket) -> int:
    _, uid, _ = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return int(uid)


def _run(conn: socket.socket, facts: bytes) -> None:
    """In the fork: become the client's command, run it, send its exit code, leave."""
    try:
        conn.settimeout(None)
        os.setsid()
        request, fds = _receive(conn)
        if request.get("fingerprint") != facts or len(fds) != 4 + len(request.get("inherited", ())):
            conn.sendall(b"F")
            os._exit(0)
        conn = _above(conn, max(request["inherited"], default=2))  # their numbers are the client's
        _become(request, fds)
        relay = _Relay(conn)
        conn.sendall(b"R" + os.getpid().to_bytes(4, "big"))
    except BaseException:
        os._exit(1)  # nothing ran: the client runs the command itself
    code = 1
    try:  # a relayed Ctrl-C may come at any bytecode from here on
        relay.start()
        from bake.cli import main

        code = main(sys.argv[1:])
    except KeyboardInterrupt:  # before main could take it: as main would have answered
        code = 130
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        if not isinstance(stop.code, int | None):
            print(stop.code, file=sys.stderr)
    except BaseException:  # a defect: its traceback, as the interpreter would print it
        sys.excepthook(*sys.exc_info())
    finally:
        relay.stop()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(b"X" + bytes([code & 0xFF]))
        os._exit(code & 0xFF)


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The request and its descriptors, which ride with the message's first bytes."""
    data, fds = b"", []
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        chunk, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(4 * 256))
        if not chunk:
            raise ConnectionError("the client went away")
        data += chunk
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                        for i in range(0, len(payload) - 3, 4)]
    request = marshal.loads(data[4:])
    if not isinstance(request, dict):
        raise ValueError("not a request")
    return request, fds


def _above(conn: socket.socket, highest: int) -> socket.socket:
    """The connection under a descriptor number above ``highest``."""
    fd = fcntl.fcntl(conn.fileno(), fcntl.F_DUPFD_CLOEXEC, highest + 1)
    conn.close()
    return socket.socket(fileno=fd)


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """Take the client's streams, directory, umask, environment, inherited descriptors (under their
    numbers) and command line."""
    inherited: list[int] = request["inherited"]
    highest = max([2, *inherited])
    received, fds = fds, [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, highest + 1) for fd in fds]  # out of the way
    for fd in received:
        os.close(fd)
    for target, fd in zip([0, 1, 2, -1, *inherited], fds, strict=True):
        if target >= 0:
            os.dup2(fd, target)
    os.fchdir(fds[3])
    for fd in fds:
        os.close(fd)
    os.umask(request["umask"])
    for signum in request["ignored"]:  # as the client had them: a background job ignores SIGINT
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, request["blocked"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # the C library read the server's TZ once; local times are the client's
    sys.argv = list(request["argv"])
    streams: list[Any] = []
    for fd, spec in enumerate(request["streams"]):
        if spec is None:
            streams.append(None)
            continue
        encoding, errors, line_buffering, unbuffered = spec
        if fd and unbuffered:  # -u or PYTHONUNBUFFERED: every write reaches the descriptor at once
            raw = open(fd, "wb", buffering=0, closefd=False)  # noqa: SIM115
            streams.append(io.TextIOWrapper(raw, encoding=encoding, errors=errors,
                                            line_buffering=line_buffering, write_through=True))
            continue
        streams.append(open(fd, "r" if fd == 0 else "w", buffering=1 if line_buffering else -1,  # noqa: SIM115
                            encoding=encoding, errors=errors, closefd=False))
    sys.stdin, sys.stdout, sys.stderr = streams
    for name, stream in zip(("__stdin__", "__stdout__", "__stderr__"), streams, strict=True):
        setattr(sys, name, stream)  # what tracebacks at exit and faulthandler use


class _Relay:
    """The client's signals, raised in this process; its end closing (killed, or its terminal gone)
    is SIGTERM. Driven by SIGIO (the kernel signals the connection's every arrival), not by a
    thread: the command forks (the rootless child), and a fork of a process with threads copies
    their locks without them."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.pending = b""
        self.done = False

    def start(self) -> None:
        self.conn.setblocking(False)
        signal.signal(signal.SIGIO, self.arrived)
        fcntl.fcntl(self.conn.fileno(), fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(self.conn.fileno(), fcntl.F_SETFL, fcntl.fcntl(self.conn.fileno(), fcntl.F_GETFL) | os.O_ASYNC)
        self.arrived(signal.SIGIO, None)  # what came before the kernel was asked to tell

    def stop(self) -> None:
        self.done = True
        signal.signal(signal.SIGIO, signal.SIG_IGN)

    def arrived(self, signum: int, frame: object) -> None:
        while not self.done:
            try:
                data = self.conn.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.stop()
                os.kill(os.getpid(), signal.SIGTERM)
                return
            self.pending += data
            while len(self.pending) >= 2:
                kind, number, self.pending = self.pending[:1], self.pending[1], self.pending[2:]
                if kind == b"S":
                    os.kill(os.getpid(), number)


def main(argv: list[str]) -> None:
    (path,) = argv
    with open(0, "rb", closefd=False) as f:
        facts = f.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    idle = float(os.environ.get("BAKE_SERVER_IDLE", "600"))
    serve(path, facts, idle)


if __name__ == "__main__":
    main(sys.argv[1:])
