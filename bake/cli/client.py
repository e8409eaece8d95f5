"""The ``bake`` command's first 15 ms: hand the command line to a build server, or say there is none.

A Python process spends ~0.1 s importing what a build needs before its first step; BuildKit's client
talks to a daemon that already did. ``bake.cli.server`` is bake's answer, as Bazel's and Gradle's:
a process that imported everything once and forks a copy of itself per command. This module is
what runs first in every ``bake`` process, so it imports only what the interpreter has already
loaded or what is built in (no ``socket``, ``signal``, ``typing``: their enums cost 5–10 ms).

The protocol, over a unix socket in a directory only this user can enter:
- the client sends one message, ``marshal``-encoded: its argv, environment, umask, stream
  encodings and *fingerprint*, with its stdin, stdout, stderr and working directory as file
  descriptors (``SCM_RIGHTS``), so the command reads and writes exactly what it would have here;
- the server's copy answers ``R`` and its pid once it has taken the command, then ``X`` and the
  exit code; ``F`` instead of ``R`` means "not for me" and the command runs here;
- a signal the client receives (Ctrl-C, SIGTERM, SIGHUP, a resized terminal) goes over as ``S`` and
  its number; Ctrl-Z stops the copy's process group and continues it with the client; the
  client's end closing is a SIGTERM to the copy (a killed client stops its build).

The fingerprint names everything a forked copy would otherwise get wrong: bake's code (every
module's size and mtime), the interpreter and its search path, and the process's world — its
namespaces, root, cgroup, user, groups, capabilities, seccomp, open-file limit, niceness and CPU
affinity (a client never gets more rights or another world through the server than it has). One server serves one fingerprint; its
socket is named by the fingerprint's digest, and the copy compares the whole fingerprint again.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

#: What the client forwards to the server's copy of the command (``S`` + the signal's number).
FORWARDED_SIGNALS = (1, 2, 3, 15, 28)  # SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH
SIGTSTP, SIGSTOP, SIGCONT, SIGWINCH = 20, 19, 18, 28
_OFF = ("0", "off", "false", "no")


def forward(argv: Sequence[str]) -> int | None:
    """The command's exit code, when a build server ran it; ``None`` when it must run in this process
    (no server yet — one is started for the next command —, ``BAKE_SERVER=off``, an unusual
    interpreter, or a server that declined)."""
    if os.environ.get("BAKE_SERVER", "").lower() in _OFF or not _plain_interpreter():
        return None
    directory = server_directory()
    if directory is None:
        return None
    facts = fingerprint()
    path = os.path.join(directory, f"{digest(facts)}.sock")
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        start_server(directory, path, facts)
        return None
    try:
        return _converse(sock, argv, facts)
    finally:
        sock.close()


def _converse(sock: object, argv: Sequence[str], facts: bytes) -> int | None:
    import _signal  # type: ignore[import-not-found]  # no stub: signal's enums cost 5 ms
    import _socket

    assert isinstance(sock, _socket.socket)
    # Signals are taken from the start: one that comes before the server's copy runs waits for it.
    previous = {signum: _signal.getsignal(signum) for signum in (*FORWARDED_SIGNALS, SIGTSTP)}
    ignored = [signum for signum, handler in previous.items() if handler == _signal.SIG_IGN]
    sent: list[int] = []
    fork = 0

    def relay(signum: int, frame: object) -> None:
        if signum != SIGWINCH:
            sent.append(signum)
        if fork:
            try:  # noqa: SIM105 (contextlib's import is a cost this module avoids)
                sock.sendall(b"S" + bytes([signum]))
            except OSError:
                pass

    def suspend(signum: int, frame: object) -> None:
        """Ctrl-Z: the copy's process group stops (SIGTSTP does not stop a group without a terminal),
        then this process, as the shell expects; ``fg`` continues both."""
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
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        request = marshal.dumps({
            "argv": list(argv), "env": dict(os.environ), "umask": _umask(), "fingerprint": facts,
            "streams": [_stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)], "ignored": ignored,
        })
        fds = _fd_bytes([0, 1, 2, cwd])
        sock.sendmsg([len(request).to_bytes(4, "big"), request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        taken = _read(sock, 5)
    except OSError:
        taken = b""
    finally:
        os.close(cwd)
    if len(taken) != 5 or taken[:1] != b"R":  # declined, or gone before it began: the command runs here
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        return 128 + sent[0] if sent else None
    fork = int.from_bytes(taken[1:], "big")
    for signum in list(sent):
        sock.sendall(b"S" + bytes([signum]))
    answer = _read(sock, 2)
    if len(answer) == 2 and answer[:1] == b"X":
        return answer[1]
    if sent:  # the signal ended the copy without a word: end as it would have ended this process
        _signal.signal(sent[-1], _signal.SIG_DFL)
        os.kill(os.getpid(), sent[-1])
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


def _fd_bytes(fds: list[int]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stream(stream: object) -> tuple[str, str, bool] | None:
    """How the copy should wrap this stream: encoding, errors, line buffering (as Python chose here)."""
    if stream is None:
        return None
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "strict"
    return (encoding, errors, bool(getattr(stream, "line_buffering", False)))


def _plain_interpreter() -> bool:
    """Only an interpreter started without options that change how code runs (``-X importtime``,
    ``-O``, ``-W``, ``-E``…) is forwarded: the server could not honour them."""
    f = sys.flags
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


def fingerprint() -> bytes:
    """Everything a forked copy of a server must share with this process (see the module's doc)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts: list[object] = [sys.executable, sys.version, sys.path[1:], os.getuid(), os.getgid(),
                           sorted(os.getgroups()), _code(package), _paths_mtimes(sys.path[1:]),
                           os.getpriority(os.PRIO_PROCESS, 0), sorted(os.sched_getaffinity(0))]
    for name in ("mnt", "pid", "user", "net", "ipc", "uts", "cgroup"):
        try:
            parts.append(os.stat(f"/proc/self/ns/{name}").st_ino)
        except OSError:
            parts.append(None)
    st = os.stat("/")
    parts.append((st.st_dev, st.st_ino))
    try:
        with open("/proc/self/cgroup", "rb") as f:
            parts.append(f.read())
        with open("/proc/self/status", "rb") as f:  # capabilities, no_new_privs, seccomp: no more rights than here
            parts.append([line for line in f.read().splitlines()
                          if line.startswith((b"Cap", b"NoNewPrivs", b"Seccomp"))])
    except OSError:
        parts.append(None)
    import resource

    parts.append(resource.getrlimit(resource.RLIMIT_NOFILE))
    return marshal.dumps(repr(parts))


def _code(package: str) -> list[tuple[str, int, int]]:
    """Every module of bake: path, size and modification time."""
    found: list[tuple[str, int, int]] = []
    pending = [package]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    found.append((entry.path, st.st_size, st.st_mtime_ns))
    found.sort()
    return found


def _paths_mtimes(paths: list[str]) -> list[int | None]:
    """The search path's directories change when a package is installed or removed."""
    out: list[int | None] = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime_ns)
        except OSError:
            out.append(None)
    return out


def digest(facts: bytes) -> str:
    import _sha256  # type: ignore[import-not-found]  # no stub: hashlib's import costs 3 ms

    return str(_sha256.sha256(facts).hexdigest()[:24])


def start_server(directory: str, path: str, facts: bytes) -> None:
    """Start a server for this fingerprint in the background, detached (its own session, no
    terminal, stdio on /dev/null), and return at once; a server that finds its socket already
    taken by another's exits."""
    facts_path = f"{path}.{os.getpid()}.facts"
    try:
        with open(os.open(facts_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(facts)
        child = os.fork()
    except OSError:
        return
    if child:
        os.waitpid(child, 0)
        return
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-m", "bake.cli.server", path, facts_path])
    finally:
        os._exit(0)
