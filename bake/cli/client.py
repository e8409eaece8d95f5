"""The ``bake`` command's first 15 ms: hand the command line to a build server, or say there is none.

A Python process spends ~0.1 s importing what a build needs before its first step; BuildKit's client
talks to a daemon that already did. ``bake.cli.server`` is bake's answer, as Bazel's and Gradle's:
a process that imported everything once and forks a copy of itself per command. This module is
what runs first in every ``bake`` process, so it imports only what the interpreter has already
loaded or what is built in (no ``socket``, ``signal``, ``typing``: their enums cost 5–10 ms).

The protocol, over a unix socket in a directory only this user can enter:
- the client sends one message, ``marshal``-encoded: its argv, environment, umask, stream
  encodings and *fingerprint*, with its stdin, stdout, stderr, working directory and every
  descriptor it inherited as file descriptors (``SCM_RIGHTS``), so the command reads and writes
  exactly what it would have here;
- the server's copy answers ``R`` and its pid once it has taken the command, then ``X`` and the
  exit code; ``F`` instead of ``R`` means "not for me" and the command runs here; when a signal
  kills the copy, the server (which keeps its end of the connection) sends ``K`` and the signal;
- a signal the client receives (Ctrl-C, SIGTERM, SIGHUP, a resized terminal) goes over as ``S`` and
  its number; Ctrl-Z stops the copy's process group and continues it with the client; the
  client's end closing is a SIGTERM to the copy (a killed client stops its build).

One server serves one fingerprint (``bake.cli.fingerprint``: code, interpreter and the process's
world); its socket is named by the fingerprint's digest, and the copy compares the whole
fingerprint again. What no fingerprint can compare stays out: a process under ``no_new_privs``
(seccomp filters, Landlock), a closed standard stream, a chosen hash seed. The client talks only
to a server of its own uid (``SO_PEERCRED``), the server only to clients of its own.
"""

from __future__ import annotations

import marshal
import os
import sys

from bake.cli.fingerprint import confined, digest, fingerprint, package_directory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: What the client forwards to the server's copy of the command (``S`` + the signal's number).
FORWARDED_SIGNALS = (1, 2, 3, 15, 28)  # SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH
SIGTSTP, SIGSTOP, SIGCONT, SIGWINCH = 20, 19, 18, 28
_OFF = ("0", "off", "false", "no")


def forward(argv: Sequence[str]) -> int | None:
    """The command's exit code, when a build server ran it; ``None`` when it must run in this process
    (no server yet — one is started for the next command —, ``BAKE_SERVER=off``, an unusual
    interpreter, or a server that declined)."""
    if os.environ.get("BAKE_SERVER", "").lower() in _OFF or not _plain_interpreter() or not _stdio_open():
        return None
    if confined():
        return None
    directory = server_directory()
    if directory is None:
        return None
    facts = fingerprint()
    path = os.path.join(directory, f"{digest(facts)}.sock")
    import _socket

    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    except OSError:  # out of descriptors: the command will say so itself
        return None
    try:
        at_path(sock.connect, path)
    except OSError:
        sock.close()
        start_server(path, facts)
        return None
    try:
        if _peer_uid(sock) != os.getuid():  # not planted in a private directory by anyone but this user
            return None
        return _converse(sock, argv, facts)
    finally:
        sock.close()


def _peer_uid(sock: object) -> int:
    import _socket

    assert isinstance(sock, _socket.socket)
    try:
        cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # pid, uid, gid
    except OSError:
        return -1
    return int.from_bytes(cred[4:8], sys.byteorder)


def _stdio_open() -> bool:
    """A closed stdin, stdout or stderr would be taken by the connection or the directory's descriptor
    and handed to the command as that stream: such a command runs here, as it always did."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


def _converse(sock: object, argv: Sequence[str], facts: bytes) -> int | None:
    import _signal  # type: ignore[import-not-found]  # no stub: signal's enums cost 5 ms
    import _socket

    assert isinstance(sock, _socket.socket)
    # Signals are taken from the start: one that comes before the server's copy runs waits for it.
    previous = {signum: _signal.getsignal(signum) for signum in (*FORWARDED_SIGNALS, SIGTSTP)}
    ignored = [signum for signum, handler in previous.items() if handler == _signal.SIG_IGN]
    sent: list[int] = []
    pending: list[int] = []  # come before the copy ran: sent once it has (each exactly once)
    fork, answered = 0, False

    def relay(signum: int, frame: object) -> None:
        if signum != SIGWINCH:
            sent.append(signum)
        if not fork:
            pending.append(signum)
            return
        try:  # noqa: SIM105 (contextlib's import is a cost this module avoids)
            sock.sendall(b"S" + bytes([signum]))
        except OSError:
            pass

    def suspend(signum: int, frame: object) -> None:
        """Ctrl-Z: the copy's process group stops (SIGTSTP does not stop a group without a terminal),
        then this process, as the shell expects; ``fg`` continues both. Before the copy has answered,
        the stop waits for its answer (which is on its way), so that both stop."""
        if not fork and not answered:
            pending.append(SIGTSTP)
            return
        if fork:
            os.killpg(fork, SIGSTOP)
        _signal.signal(SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), SIGTSTP)
        _signal.signal(SIGTSTP, suspend)
        if fork:
            os.killpg(fork, SIGCONT)

    for signum in FORWARDED_SIGNALS:
        if signum not in ignored:
            _signal.signal(signum, relay)
    if SIGTSTP not in ignored:
        _signal.signal(SIGTSTP, suspend)
    try:  # O_PATH: a directory this user may enter but not read is a working directory too
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:  # gone, or not even searchable: the command runs here and says so as it always did
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        return None
    inherited = _inherited()
    try:
        if len(inherited) > 200:  # more than one message carries (SCM_MAX_FD is 253)
            raise OSError("too many descriptors")
        request = marshal.dumps({
            "argv": list(argv), "env": dict(os.environ), "umask": _umask(), "fingerprint": facts,
            "streams": [_stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)], "ignored": ignored,
            "blocked": sorted(_signal.pthread_sigmask(_signal.SIG_BLOCK, [])), "inherited": inherited,
        })
        fds = _fd_bytes([0, 1, 2, cwd, *inherited])
        message = len(request).to_bytes(4, "big") + request
        done = sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(message[done:])  # a signal may cut a large environment short
        taken = _read(sock, 1)  # "F" comes alone
        if taken == b"R":
            taken += _read(sock, 4)
    except OSError:
        taken = b""
    finally:
        os.close(cwd)
    answered = True
    if len(taken) != 5 or taken[:1] != b"R":  # declined, or gone before it began: the command runs here
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        if SIGTSTP in pending:
            os.kill(os.getpid(), SIGTSTP)  # the Ctrl-Z that came meanwhile, now
        return 128 + sent[0] if sent else None
    fork = int.from_bytes(taken[1:], "big")
    try:
        while pending:  # a signal from here on is relayed by the handler itself
            signum = pending.pop(0)
            if signum == SIGTSTP:
                suspend(signum, None)
            else:
                sock.sendall(b"S" + bytes([signum]))
    except OSError:
        pass
    answer = _read(sock, 2)
    if len(answer) == 2 and answer[:1] == b"X":
        return answer[1]
    # A signal ended the copy without a word (the server says which, unless it is gone too; else
    # the one relayed last): end as it would have ended this process.
    killer = answer[1] if len(answer) == 2 and answer[:1] == b"K" else sent[-1] if sent else 0
    if killer:
        try:  # noqa: SIM105 (contextlib's import is a cost this module avoids)
            _signal.signal(killer, _signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL's cannot be set, nor needs to be
            pass
        os.kill(os.getpid(), killer)
    sys.stderr.write("bake: the command's process (a fork of the build server) ended without an exit code\n")
    return 1


def _read(sock: object, n: int) -> bytes:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))  # type: ignore[attr-defined]
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk
    return data


def _inherited() -> list[int]:
    """The descriptors above stderr this process inherited (``bake -f <(…)`` reads ``/dev/fd/63``,
    ``--secret src=/dev/fd/3``): the copy gets them under the same numbers. Python opens its own
    non-inheritable, as this module's socket and directory are."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    found = []
    for name in names:
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                found.append(fd)
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return sorted(found)


def _fd_bytes(fds: list[int]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stream(stream: object) -> tuple[str, str, bool, bool] | None:
    """How the copy should wrap this stream: encoding, errors, line buffering, unbuffered (``-u``,
    ``PYTHONUNBUFFERED``) — as Python chose here."""
    if stream is None:
        return None
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "strict"
    return (encoding, errors, bool(getattr(stream, "line_buffering", False)),
            bool(getattr(stream, "write_through", False)))


def _plain_interpreter() -> bool:
    """Only an interpreter started without options that change how code runs (``-X importtime``,
    ``-O``, ``-W``, ``-E``…) is forwarded: the server could not honour them."""
    f = sys.flags
    if os.environ.get("PYTHONHASHSEED", "random") != "random":  # a chosen seed: the server's is another
        return False
    return not (sys._xoptions or sys.warnoptions or f.optimize or f.dev_mode or f.isolated or f.no_site
                or f.ignore_environment or f.verbose or f.inspect or f.interactive or f.no_user_site
                or f.bytes_warning or f.hash_randomization == 0)


def server_directory() -> str | None:
    """The directory of this user's server sockets, made if missing (mode 0700), or ``None`` when it
    is not safe: not a directory this user owns, or open to others (``BAKE_SERVER_DIR`` overrides,
    else ``$XDG_RUNTIME_DIR/bake``, else ``/tmp/bake-server-<uid>``)."""
    uid = os.getuid()
    directory = os.environ.get("BAKE_SERVER_DIR")
    if not directory:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        directory = os.path.join(runtime, "bake") if runtime else f"/tmp/bake-server-{uid}"
    try:
        directory = os.path.abspath(directory)  # the server runs in /
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(directory)
    except OSError:
        return None
    safe = (st.st_mode & 0o170000) == 0o040000 and st.st_uid == uid and not st.st_mode & 0o077
    return directory if safe else None


def at_path(call: Callable[[str], None], path: str) -> None:
    """``call`` (a socket's connect or bind) with ``path`` — through a descriptor of its directory
    when the path is longer than a unix socket's address holds (107 bytes)."""
    if len(os.fsencode(path)) < 100:
        return call(path)
    fd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        call(f"/proc/self/fd/{fd}/{os.path.basename(path)}")
    finally:
        os.close(fd)


def start_server(path: str, facts: bytes) -> None:
    """Start a server for this fingerprint in the background, detached (its own session, no
    terminal, stdout and stderr on /dev/null, the fingerprint on its stdin, a pipe), and return at
    once; a server that finds its socket already taken by another's exits.

    The server inherits nothing of this process but its world: no other descriptor (a pipe held
    open for ten minutes keeps its reader waiting), no ignored or blocked signal (a server started
    by a background job would ignore every later command's Ctrl-C)."""
    import _signal

    try:
        read, write = os.pipe()
    except OSError:
        return
    try:
        os.set_blocking(write, False)
        written = os.write(write, facts)  # the pipe holds it: nothing waits for the server's start
        child = os.fork() if written == len(facts) else -1
    except OSError:
        child = -1
    if child:
        os.close(read)
        os.close(write)
        if child > 0:
            try:  # noqa: SIM105 (contextlib's import is a cost this module avoids)
                os.waitpid(child, 0)
            except ChildProcessError:  # SIGCHLD ignored (by whoever started bake): reaped already
                pass
        return
    try:
        os.setsid()
        os.close(write)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(read, 0)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        for signum in range(1, _signal.NSIG):
            try:  # SIGKILL, SIGSTOP and the real-time signals the C library keeps refuse
                if _signal.getsignal(signum) == _signal.SIG_IGN:
                    _signal.signal(signum, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
        # ``-m`` puts the working directory first on the search path: the package's own directory
        # there, not wherever the first bake ran (a checkout's jinja2.py would serve every later one).
        os.chdir(os.path.dirname(package_directory()))
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-m", "bake.cli.server", path])
    finally:
        os._exit(0)
