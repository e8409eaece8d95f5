"""The build server: a second ``bake`` is answered by a fork of a process that imported everything,
with the client's streams, directory, environment, exit code and signals — the same command as
one run in a process of its own."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.cli import client, fingerprint
from bake.cli import server as server_module

pytestmark = pytest.mark.skipif(fingerprint.confined(), reason="under no_new_privs no command is handed to a server")

HCL = 'variable "GREETING" {}\ntarget "default" {\n  args = { GREETING = GREETING }\n}\n'


@pytest.fixture
def sockets(tmp_path: Path) -> Iterator[Path]:
    """A private socket directory; every server started in it is stopped at the end."""
    directory = tmp_path / "servers"
    yield directory
    for pid in _servers(directory):
        os.kill(pid, signal.SIGKILL)


def _servers(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"bake.cli.server" in cmdline and any(str(directory).encode() in a for a in cmdline):
                found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    """``pid``'s live children (a finished command's fork is a zombie until the server reaps it)."""
    found = []
    for child in (int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()):
        with contextlib.suppress(OSError):
            if _state(child) != "Z":
                found.append(child)
    return found


def _env(sockets: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BAKE_SERVER"}  # tests/conftest.py turns it off
    return {**env, "BAKE_SERVER_DIR": str(sockets), "BAKE_SERVER_IDLE": "60", **extra}


def _bake(cwd: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bake", *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=60)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "docker-bake.hcl").write_text(HCL)
    return project


def _started(sockets: Path, project: Path, env: dict[str, str]) -> int:
    """Run one command (which starts the server) and wait for the server's socket; its pid."""
    assert _bake(project, env, "--list=targets").returncode == 0
    deadline = time.monotonic() + 30
    while not list(sockets.glob("*.sock")) or not _servers(sockets):
        assert time.monotonic() < deadline, "no server started"
        time.sleep(0.05)
    (pid,) = _servers(sockets)
    return pid


def _blocked_on_stdin(project: Path, env: dict[str, str], server: int,
                      process_group: int | None = None) -> tuple[subprocess.Popen[str], int]:
    """A client whose command waits for its bake file on stdin; the server's fork running it."""
    before = set(_children(server))
    proc = subprocess.Popen([sys.executable, "-m", "bake", "-f", "-", "--print"], cwd=project, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            process_group=process_group)
    deadline = time.monotonic() + 30
    while not set(_children(server)) - before:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.communicate()
            raise AssertionError("the server did not take the command")
        time.sleep(0.02)
    (fork,) = set(_children(server)) - before
    return proc, fork


def test_the_second_command_runs_in_a_fork_of_the_server_with_the_clients_world(sockets: Path,
                                                                                tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = _env(sockets)
    server = _started(sockets, project, env)

    proc, fork = _blocked_on_stdin(project, {**env, "GREETING": "bonjour"}, server)
    _answered(fork)
    assert len(os.listdir(f"/proc/{fork}/task")) == 1  # no thread: the command may fork (the rootless child)
    assert os.readlink(f"/proc/{fork}/cwd") == str(project)  # the client's directory (the server's is /)
    assert proc.pid not in _children(server)
    out, err = proc.communicate(HCL, timeout=60)  # the client's stdin, stdout and environment
    assert proc.returncode == 0, err
    assert '"GREETING": "bonjour"' in out

    failed = _bake(project, env, "nosuch")
    assert failed.returncode == 1 and "failed to find target nosuch" in failed.stderr
    usage = _bake(project, env, "--no-such-flag")
    assert usage.returncode == 2 and "--no-such-flag" in usage.stderr
    assert _servers(sockets) == [server]  # all answered by the one server


def test_ctrl_c_reaches_the_command_and_a_killed_client_stops_it(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)

    proc, fork = _blocked_on_stdin(project, env, server)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130  # as bake's own Ctrl-C

    proc, fork = _blocked_on_stdin(project, env, server)
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + 30
    while fork in _children(server):
        assert time.monotonic() < deadline, "the command outlived its client"
        time.sleep(0.05)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _answered(fork: int) -> None:
    """The fork has sent its answer "R" (it catches SIGIO, its relay, right after), and the client
    has had time to read it."""
    _until(lambda: _catches(fork, signal.SIGIO), "the fork answered")
    time.sleep(0.2)


def _catches(pid: int, signum: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    (caught,) = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")]
    return bool(int(caught, 16) >> (signum - 1) & 1)


def test_ctrl_z_stops_the_command_with_its_client_and_fg_continues_both(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    # The client as a shell's job: Ctrl-Z's default action (a runner may start the tests with SIGTSTP
    # ignored, which the client then keeps, as any program would), and a process group of its own (in
    # an orphaned group the kernel discards SIGTSTP: neither side stops, the fork is continued at once).
    ignored = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        proc, fork = _blocked_on_stdin(project, {**env, "GREETING": "hi"}, server, process_group=0)
    finally:
        signal.signal(signal.SIGTSTP, ignored)
    try:
        _answered(fork)
        proc.send_signal(signal.SIGTSTP)
        _until(lambda: _state(proc.pid) == "T" and _state(fork) == "T", "client and command stopped")
        proc.send_signal(signal.SIGCONT)
        _until(lambda: _state(fork) != "T", "the command continued")
        out, err = proc.communicate(HCL, timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and '"GREETING": "hi"' in out, err


def test_a_hangup_ends_the_client_as_it_ends_the_command(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    proc, fork = _blocked_on_stdin(project, env, server)
    _answered(fork)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGHUP  # as a bake in a process of its own


def test_a_server_declines_a_client_of_another_world_and_the_command_runs_in_the_client(sockets: Path,
                                                                                     tmp_path: Path) -> None:
    env = _env(sockets)
    facts = fingerprint.fingerprint()
    sockets.mkdir(mode=0o700)
    path = sockets / f"{fingerprint.digest(facts)}.sock"
    server = subprocess.Popen([sys.executable, "-m", "bake.cli.server", str(path)], env=env, stdin=subprocess.PIPE)
    assert server.stdin is not None
    server.stdin.write(b"another interpreter, another namespace")  # its fingerprint
    server.stdin.close()
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = _bake(_project(tmp_path), {**env, "GREETING": "hej"}, "--print")
    assert r.returncode == 0 and '"GREETING": "hej"' in r.stdout, r.stderr
    assert server.poll() is None
    server.kill()
    server.wait()


def test_no_server_where_it_is_turned_off_or_its_directory_is_not_private(sockets: Path, tmp_path: Path) -> None:
    project = _project(tmp_path)
    r = _bake(project, {**_env(sockets), "BAKE_SERVER": "off"}, "--list=targets")
    assert r.returncode == 0 and not sockets.exists()

    sockets.mkdir()
    sockets.chmod(0o777)
    r = _bake(project, _env(sockets), "--list=targets")
    assert r.returncode == 0
    time.sleep(0.5)
    assert not list(sockets.iterdir()) and not _servers(sockets)


def test_the_fingerprint_changes_with_the_code(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    module = package / "sub" / "m.py"
    module.write_text("x = 1\n")
    before = fingerprint.code_files(str(package))
    os.utime(module, ns=(0, 1))
    assert fingerprint.code_files(str(package)) != before


def _digest(*wrapper: str) -> str:
    code = "from bake.cli import fingerprint as f; print(f.digest(f.fingerprint()))"
    return subprocess.run([*wrapper, sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping a capability needs one to drop")
def test_a_client_with_fewer_rights_or_another_niceness_has_another_server() -> None:
    plain = _digest()
    assert _digest() == plain
    assert _digest("setpriv", "--bounding-set=-sys_admin", "--inh-caps=-all") != plain
    assert _digest("setpriv", "--no-new-privs") != plain
    assert _digest("nice", "-n", "5") != plain
    assert _digest("prlimit", "--fsize=1000000") != plain  # every limit, not only open files'


def _listening(sockets: Path) -> bool:
    """Whether a socket in ``sockets`` takes connections (a dead server's stays behind)."""
    for path in sockets.glob("*.sock"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                client.at_path(probe.connect, str(path))
            except OSError:
                continue
            return True
    return False


def _server_up(sockets: Path, other_than: int = 0) -> int:
    """The pid of the one server listening in ``sockets`` (once it listens), other than ``other_than``."""
    _until(lambda: _listening(sockets) and any(p != other_than for p in _servers(sockets)), "a server listening")
    _until(lambda: len([p for p in _servers(sockets) if p != other_than]) == 1, "one server left")
    (pid,) = [p for p in _servers(sockets) if p != other_than]
    return pid


def test_the_server_keeps_nothing_of_the_client_that_started_it(sockets: Path, tmp_path: Path) -> None:
    """Not its descriptors (a pipe's reader would wait ten minutes for its end), nor its directory (the
    file system stays busy), nor its ignored signals (a server started by a background job would
    ignore every later Ctrl-C); and the zygote forks with one thread and no event loop."""
    env, project = _env(sockets), _project(tmp_path)
    read, write = os.pipe()
    first = subprocess.run(["sh", "-c", 'trap "" INT HUP; exec "$@"', "sh", sys.executable, "-m", "bake",
                            "--list=targets"], cwd=project, env=env, pass_fds=(write,), capture_output=True)
    os.close(write)
    assert first.returncode == 0, first.stderr
    server = _server_up(sockets)
    os.set_blocking(read, False)
    _until(lambda: _eof(read), "the pipe's end closed by all but the reader")
    assert os.readlink(f"/proc/{server}/cwd") == "/"
    # stdio on /dev/null and its socket (a connection _server_up's probe made is closed at once)
    _until(lambda: sorted(int(fd) for fd in os.listdir(f"/proc/{server}/fd")) == [0, 1, 2, 3], "no other descriptor")
    assert len(os.listdir(f"/proc/{server}/task")) == 1

    proc, fork = _blocked_on_stdin(project, env, server)
    _answered(fork)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130


def _eof(fd: int) -> bool:
    try:
        return os.read(fd, 1) == b""
    except BlockingIOError:
        return False


def _digest_in(env: dict[str, str], *wrapper: str) -> str:
    code = "from bake.cli import fingerprint as f; print(f.digest(f.fingerprint()))"
    return subprocess.run([*wrapper, sys.executable, "-c", code], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


FAKE_SERVER = """
import socket, sys, time
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen(1)
listener.settimeout(60)
open(sys.argv[2], "w").close()
conn, _ = listener.accept()
conn.settimeout(2)
got = b""
try:
    while chunk := conn.recv(65536):
        got += chunk
except TimeoutError:
    pass
open(sys.argv[2], "w").write(str(len(got)))
"""

# Another user: scripts/test-rootless.sh makes bake-ci (with a subordinate id range) and lets it reach
# this checkout and its interpreter, then runs this file again; elsewhere these tests are skipped.
OTHER_USER = os.environ.get("BAKE_TEST_OTHER_USER", "bake-ci")


def _ids(name: str) -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return -1, -1
    return pw.pw_uid, pw.pw_gid


OTHER_IDS = _ids(OTHER_USER)
as_bakeuser = ["setpriv", "--reuid", str(OTHER_IDS[0]), "--regid", str(OTHER_IDS[1]), "--clear-groups"]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")


def _other_user_runs_bake() -> bool:
    if os.geteuid() != 0 or OTHER_IDS[0] < 0:
        return False
    probe = subprocess.run([*as_bakeuser, sys.executable, "-c", "import bake.cli"], capture_output=True, cwd="/")
    return probe.returncode == 0


@pytest.fixture(scope="session")
def other_user() -> None:
    if not _other_user_runs_bake():
        pytest.skip(f"needs root and a user {OTHER_USER!r} who can run this checkout's bake "
                    "(scripts/test-rootless.sh makes one and runs these tests)")


@pytest.fixture
def bakeuser_dir(other_user: None) -> Iterator[Path]:
    """A directory of the other user's that it can reach; its servers stopped at the end."""
    base = Path(tempfile.mkdtemp(prefix="bake-server-test-", dir="/tmp"))
    os.chown(base, *OTHER_IDS)
    base.chmod(0o711)
    yield base
    for pid in _servers(base):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(base)


@needs_root
def test_a_socket_planted_by_another_user_is_handed_nothing(sockets: Path, tmp_path: Path, bakeuser_dir: Path) -> None:
    """Whatever the path, the client talks only to a server of its own user: not even its
    environment goes to another's (here bakeuser's socket, moved into root's directory)."""
    env, project = _env(sockets), _project(tmp_path)
    sockets.mkdir(mode=0o700)
    planted, record = bakeuser_dir / "fake.sock", bakeuser_dir / "received"
    fake = subprocess.Popen([*as_bakeuser, sys.executable, "-c", FAKE_SERVER, str(planted), str(record)])
    _until(lambda: record.exists(), "the planted server listening")
    planted.rename(sockets / f"{_digest_in(env)}.sock")

    r = _bake(project, {**env, "GREETING": "secret"}, "--print")
    assert r.returncode == 0 and '"GREETING": "secret"' in r.stdout, r.stderr
    fake.wait(timeout=60)
    assert record.read_text() == "0"  # it was connected to, and got not one byte


@needs_root
def test_a_working_directory_the_user_may_enter_but_not_read(bakeuser_dir: Path) -> None:
    project = bakeuser_dir / "project"
    project.mkdir()
    (project / "docker-bake.hcl").write_text(HCL)
    project.chmod(0o311)  # root's: bakeuser may search it, not list it
    env = {**_env(bakeuser_dir / "servers"), "HOME": str(bakeuser_dir), "GREETING": "hello"}
    for attempt in ("starts the server", "is served"):
        r = subprocess.run([*as_bakeuser, sys.executable, "-m", "bake", "--print"], cwd=project, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and '"GREETING": "hello"' in r.stdout, (attempt, r.stderr)
        if attempt == "starts the server":
            _server_up(bakeuser_dir / "servers")


def test_a_closed_stdin_is_no_stream_of_the_command(sockets: Path, tmp_path: Path) -> None:
    """The client's connection would take the free descriptor 0 and become the command's stdin
    (inherited by whatever it starts): such a command runs in the client, with no stdin, as always."""
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    fifo = tmp_path / "bake.hcl"
    os.mkfifo(fifo)
    proc = subprocess.Popen(["sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "bake", "-f", str(fifo), "--print"],
                            cwd=project, env={**env, "GREETING": "hi"}, stdout=subprocess.PIPE, text=True)
    _until(lambda: any(_opening_fifo(pid) for pid in [proc.pid, *_children(server)]), "the bake file opened")
    (reader,) = [pid for pid in [proc.pid, *_children(server)] if _opening_fifo(pid)]
    assert not os.path.exists(f"/proc/{reader}/fd/0")
    fifo.write_text(HCL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and '"GREETING": "hi"' in out


def _opening_fifo(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in ("fifo_open", "wait_for_partner")  # as kernels name it
    except OSError:
        return False


def test_a_facts_file_left_behind_does_not_keep_a_server_from_starting(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    sockets.mkdir(mode=0o700)
    plant = ("import os, sys; from bake.cli import fingerprint as f; "
             "open(os.path.join(sys.argv[1], f.digest(f.fingerprint()) + f'.sock.{os.getpid()}.facts'), 'w'); "
             "os.execv(sys.executable, [sys.executable, '-m', 'bake', '--list=targets'])")  # the same pid
    r = subprocess.run([sys.executable, "-c", plant, str(sockets)], cwd=project, env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    _server_up(sockets)


def test_a_server_killed_mid_command_leaves_the_command_running_and_the_next_starts_another(
        sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    proc, fork = _blocked_on_stdin(project, {**env, "GREETING": "still"}, server)
    _answered(fork)
    os.kill(server, signal.SIGKILL)
    out, err = proc.communicate(HCL, timeout=60)
    assert proc.returncode == 0 and '"GREETING": "still"' in out, err

    assert _bake(project, env, "--list=targets").returncode == 0  # a dead server's socket: run here, start one
    successor = _server_up(sockets, other_than=server)
    proc, fork = _blocked_on_stdin(project, env, successor)
    out, err = proc.communicate(HCL, timeout=60)
    assert proc.returncode == 0, err


def test_clients_racing_to_start_a_server_leave_one(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    racers = [subprocess.Popen([sys.executable, "-m", "bake", "--list=targets"], cwd=project, env=env,
                               stdout=subprocess.DEVNULL) for _ in range(4)]
    assert [p.wait(timeout=60) for p in racers] == [0] * 4
    server = _server_up(sockets)
    proc, _ = _blocked_on_stdin(project, env, server)
    _, err = proc.communicate(HCL, timeout=60)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("client", ["under no_new_privs", "with a chosen hash seed"])
def test_a_client_the_server_cannot_match_never_uses_one(client: str, sockets: Path, tmp_path: Path) -> None:
    """Under no_new_privs, its seccomp filters or Landlock rules cannot be read back and compared: a
    server started under other ones would run its command with rights it does not have. With a
    chosen PYTHONHASHSEED, the server's seed is another."""
    env, project = _env(sockets), _project(tmp_path)
    wrapper = ["setpriv", "--no-new-privs"] if client == "under no_new_privs" else []
    if client == "with a chosen hash seed":
        env["PYTHONHASHSEED"] = "123"
    for _ in range(2):
        r = subprocess.run([*wrapper, sys.executable, "-m", "bake", "--list=targets"], cwd=project,
                           env=env, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    assert not _servers(sockets) and not list(sockets.glob("*.sock"))


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The busybox image in a registry of this module's (as tests/integration's fixture)."""
    from tests.integration.conftest import _serve_registry

    for host in _serve_registry(tmp_path_factory.mktemp("registry")):
        script = Path(__file__).parents[2] / "scripts" / "seed_registry.py"
        subprocess.run([sys.executable, str(script), host], check=True, capture_output=True)
        yield f"{host}/library/busybox"


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        with contextlib.suppress(OSError):
            children = _children(pending.pop())
            found += children
            pending += children
    return found


def _sleeping(proc: subprocess.Popen[str], server: int) -> tuple[str, int, list[int]]:
    """Once a served build's RUN has printed "started" (its own output, not its step's name) and its
    sleep runs under the server's fork: the progress so far, the fork, the sleeping processes."""
    assert proc.stderr is not None
    seen, line = "", ""
    while not line.rstrip().endswith(" started"):
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    (fork,) = _children(server)
    _until(lambda: _sleepers(fork), "the RUN's sleep, under the server's fork")
    return seen, fork, _sleepers(fork)


def _sockets_of(pid: int) -> set[str]:
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            links.add(os.readlink(fd))
    return {link for link in links if link.startswith("socket:")}


@pytest.mark.root
def test_a_build_through_the_server_leaks_no_socket_into_its_containers_and_ctrl_c_ends_it(
        sockets: Path, tmp_path: Path, busybox: str) -> None:
    env, project = {**_env(sockets), "BAKE_ROOT": str(tmp_path / "root")}, _project(tmp_path)
    (project / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo started && sleep 300\n")
    server = _started(sockets, project, env)
    proc = subprocess.Popen([sys.executable, "-m", "bake", "--progress=plain"], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, fork, sleeper = _sleeping(proc, server)
    private = _sockets_of(server) | _sockets_of(fork)  # the listening socket, the client's connection
    for pid in _descendants(fork):  # runc, its shim, the container's processes
        with contextlib.suppress(OSError):
            assert not _sockets_of(pid) & private, Path(f"/proc/{pid}/cmdline").read_bytes()

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    _until(lambda: not _sleepers(fork) and not Path(f"/proc/{sleeper[0]}").exists(), "the container killed")
    assert str(tmp_path / "root") not in Path("/proc/self/mounts").read_text()  # and its mounts taken down


def _sleepers(pid: int) -> list[int]:
    found = []
    for child in _descendants(pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "sleep":
                found.append(child)
    return found


def test_a_client_of_another_locale_has_another_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANG"}
    assert _digest_in({**env, "LC_ALL": "C"}) != _digest_in({**env, "LC_ALL": "C.UTF-8"})  # ASCII, UTF-8 mode


def test_a_client_with_libraries_preloaded_has_another_server() -> None:
    """LD_PRELOAD (fakeroot, proxychains, libfaketime…) acts on a process at its start: a fork of a
    server started without it would run the command without it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    assert _digest_in({**env, "LD_PRELOAD": "libm.so.6"}) != _digest_in(env)


@pytest.mark.root
def test_local_times_are_the_clients(sockets: Path, tmp_path: Path) -> None:
    """``bake explain`` prints when the last build ran, in the client's time zone (TZ), not the server's."""
    env, project = _env(sockets), _project(tmp_path)
    (project / "a").write_text("a\n")
    (project / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    assert _bake(project, {**env, "BAKE_SERVER": "off"}, "--set", "*.output=type=cacheonly").returncode == 0
    _started(sockets, project, {**env, "TZ": "UTC0"})
    for tz in ("UTC0", "EAST-14"):
        alone = _bake(project, {**env, "TZ": tz, "BAKE_SERVER": "off"}, "explain")
        served = _bake(project, {**env, "TZ": tz}, "explain")
        assert served.returncode == alone.returncode == 0, served.stderr
        assert served.stdout == alone.stdout and "built" in served.stdout


def _on_terminal(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """``bake ARGS`` on a new 50×30 pseudo-terminal: its exit code and the final screen, times as N."""
    import pty
    import re

    import pyte

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "bake", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 50, 0, 0))
    out = b""
    with contextlib.suppress(OSError):  # EIO: every process holding the terminal has gone
        while data := os.read(fd, 65536):
            out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    screen = pyte.Screen(50, 30)
    pyte.ByteStream(screen).feed(out)
    return os.waitstatus_to_exitcode(status), [re.sub(r"\d", "N", line.rstrip()) for line in screen.display]


@pytest.mark.root
def test_a_terminal_is_the_commands_terminal_with_its_size(sockets: Path, tmp_path: Path) -> None:
    env, project = {**_env(sockets), "TERM": "xterm"}, _project(tmp_path)
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    (project / "a").write_text("a\n")
    (project / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    alone = {**env, "BAKE_SERVER": "off"}
    assert _bake(project, alone, "--set", "*.output=type=cacheonly").returncode == 0
    code, screen = _on_terminal(project, alone, "--set", "*.output=type=cacheonly")
    assert code == 0 and any(line.startswith("[+] Building") for line in screen), screen
    _started(sockets, project, env)
    assert _on_terminal(project, env, "--set", "*.output=type=cacheonly") == (code, screen)


def test_a_deleted_working_directory_is_reported_as_without_a_server(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    _started(sockets, project, env)
    gone = tmp_path / "gone"
    answers = []
    for run in ({**env, "BAKE_SERVER": "off"}, env):
        gone.mkdir()
        r = subprocess.run(["sh", "-c", f'cd {gone} && rmdir {gone} && exec "$@"', "sh", sys.executable, "-m", "bake",
                            "--print"], env=run, capture_output=True, text=True, timeout=60)
        answers.append((r.returncode, r.stdout, r.stderr))
    assert answers[0] == answers[1] and answers[0][0] == 1


@needs_root
def test_a_rootless_build_as_an_ordinary_user_is_served_and_ctrl_c_ends_it(bakeuser_dir: Path, busybox: str) -> None:
    project = bakeuser_dir / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(f"FROM {busybox}\nARG S=0\nRUN echo started && sleep $S\n")
    (project / "docker-bake.hcl").write_text('target "default" {\n  output = ["type=local,dest=out"]\n}\n')
    for path in (project, project / "Dockerfile", project / "docker-bake.hcl"):
        os.chown(path, *OTHER_IDS)
    sockets = bakeuser_dir / "servers"
    env = {**_env(sockets), "HOME": str(bakeuser_dir), "XDG_CACHE_HOME": str(bakeuser_dir / "cache")}
    env.pop("BAKE_ROOT", None)
    bake = [*as_bakeuser, sys.executable, "-m", "bake", "--progress=plain"]
    first = subprocess.run(bake, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and (project / "out" / "bin" / "busybox").exists(), first.stderr
    server = _server_up(sockets)

    proc = subprocess.Popen([*bake, "--set", "*.args.S=300"], cwd=project, env=env, text=True, stderr=subprocess.PIPE)
    seen, _, sleeper = _sleeping(proc, server)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    _until(lambda: not Path(f"/proc/{sleeper[0]}").exists(), "the container killed")


@pytest.mark.root
def test_outputs_are_written_with_the_clients_umask(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    (project / "a").write_text("a\n")
    (project / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    _started(sockets, project, env)
    modes = []
    for run, dest in (({**env, "BAKE_SERVER": "off"}, "alone"), (env, "served")):
        r = subprocess.run(["sh", "-c", 'umask 027 && exec "$@"', "sh", sys.executable, "-m", "bake", "--set",
                            f"*.output=type=local,dest={dest}"], cwd=project, env=run, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        modes.append((project / dest).stat().st_mode)
    assert modes[0] == modes[1] and not modes[1] & 0o007


def test_two_commands_at_once_each_with_its_own_world(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    first = subprocess.Popen([sys.executable, "-m", "bake", "-f", "-", "--print"], cwd=project, text=True,
                             env={**env, "GREETING": "one"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    second = subprocess.Popen([sys.executable, "-m", "bake", "-f", "-", "--print"], cwd=project, text=True,
                              env={**env, "GREETING": "two"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    _until(lambda: len(_children(server)) == 2, "both taken by the server")
    out_two, _ = second.communicate(HCL, timeout=60)
    out_one, _ = first.communicate(HCL, timeout=60)
    assert first.returncode == second.returncode == 0
    assert '"GREETING": "one"' in out_one and '"GREETING": "two"' in out_two


def test_a_reader_that_stops_early_ends_the_command_as_it_ends_one_of_its_own(sockets: Path, tmp_path: Path) -> None:
    """``bake --print | head -1``: the same exit code and no complaint on stderr."""
    env, project = _env(sockets), _project(tmp_path)
    many = "".join(f'target "t{i}" {{\n  args = {{ N = "{i}" }}\n}}\n' for i in range(2000))
    (project / "docker-bake.hcl").write_text(many + 'group "default" {\n  targets = [' +
                                            ", ".join(f'"t{i}"' for i in range(2000)) + "]\n}\n")
    _started(sockets, project, env)
    answers = []
    for run in ({**env, "BAKE_SERVER": "off"}, env):
        proc = subprocess.Popen([sys.executable, "-m", "bake", "--print"], cwd=project, env=run,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"{\n"
        proc.stdout.close()
        answers.append((proc.wait(timeout=60), proc.stderr.read()))
        proc.stderr.close()
    assert answers[0] == answers[1] == (0, b"")


def test_a_relative_socket_directory_is_the_same_directory_for_client_and_server(tmp_path: Path) -> None:
    project = _project(tmp_path)
    sockets = project / "servers"
    env = _env(sockets)
    env["BAKE_SERVER_DIR"] = "servers"
    try:
        server = _started(sockets, project, env)
        time.sleep(3 * server_module.POLL_SECONDS)  # the server has looked at its socket a few times
        assert _servers(sockets) == [server], "the server lost its socket"
        proc, _ = _blocked_on_stdin(project, env, server)
        _, err = proc.communicate(HCL, timeout=60)
        assert proc.returncode == 0, err
    finally:
        for pid in _servers(sockets):
            os.kill(pid, signal.SIGKILL)


@needs_root
@pytest.mark.parametrize("planted", ["another user's directory", "a link to a private directory"])
def test_a_socket_directory_planted_by_another_user_is_not_used(planted: str, bakeuser_dir: Path,
                                                                 tmp_path: Path) -> None:
    sockets = bakeuser_dir / "servers"
    if planted == "another user's directory":
        subprocess.run([*as_bakeuser, "mkdir", "-m", "700", str(sockets)], check=True)
    else:
        private = tmp_path / "private"
        private.mkdir(mode=0o700)
        subprocess.run([*as_bakeuser, "ln", "-s", str(private), str(sockets)], check=True)
    env, project = _env(sockets), _project(tmp_path)
    for _ in range(2):
        r = _bake(project, {**env, "GREETING": "x"}, "--print")
        assert r.returncode == 0 and '"GREETING": "x"' in r.stdout, r.stderr
    time.sleep(0.5)
    assert not _servers(sockets) and not list(sockets.glob("*"))


def test_a_command_killed_by_a_signal_ends_its_client_by_that_signal(sockets: Path, tmp_path: Path) -> None:
    """As the OOM killer's SIGKILL ends a process of its own: the shell sees 137, not 1."""
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    proc, fork = _blocked_on_stdin(project, env, server)
    _answered(fork)
    os.kill(fork, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    proc, _ = _blocked_on_stdin(project, env, server)  # the server serves on
    _, err = proc.communicate(HCL, timeout=60)
    assert proc.returncode == 0, err


def test_a_server_whose_code_changed_exits(sockets: Path, tmp_path: Path) -> None:
    """An edit or an upgrade starts a server of its own; the old one leaves at once instead of
    holding its memory for the idle time (here: a copy of bake, one of its modules touched)."""
    copy = tmp_path / "code"
    shutil.copytree(Path(client.__file__).parents[1], copy / "bake", ignore=shutil.ignore_patterns("__pycache__"))
    env, project = {**_env(sockets), "PYTHONPATH": str(copy)}, _project(tmp_path)
    server = _started(sockets, project, env)
    time.sleep(server_module.POLL_SECONDS + 0.5)
    assert _servers(sockets) == [server]  # unchanged code: it stays
    os.utime(copy / "bake" / "cli" / "render.py", ns=(0, 1))
    _until(lambda: not _servers(sockets) and not list(sockets.glob("*.sock")), "the old server gone")


def test_a_large_environment_reaches_the_command_whole(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    big = {f"BIG_{i}": str(i) * 100_000 for i in range(10)}  # a megabyte, several socket buffers
    proc, _ = _blocked_on_stdin(project, {**env, **big, "GREETING": "x" * 100_000}, server)
    out, err = proc.communicate(HCL, timeout=60)
    assert proc.returncode == 0 and f'"GREETING": "{"x" * 100_000}"' in out, err


def test_a_client_that_ignores_sigchld_starts_a_server_all_the_same(sockets: Path, tmp_path: Path) -> None:
    """A parent may leave SIGCHLD ignored: the children are then reaped by the kernel, not waited for."""
    env, project = _env(sockets), _project(tmp_path)
    ignoring = ("import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
                "os.execv(sys.executable, [sys.executable, '-m', 'bake', '--list=targets'])")
    r = subprocess.run([sys.executable, "-c", ignoring], cwd=project, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr
    _server_up(sockets)


def test_the_directory_of_the_first_command_is_not_on_the_servers_search_path(sockets: Path, tmp_path: Path) -> None:
    """A module in the directory where bake first ran (an untrusted checkout's jinja2.py) is never
    imported by a later command: ``bake`` itself never searches its working directory."""
    env, checkout = _env(sockets), _project(tmp_path)
    planted = tmp_path / "planted"
    (checkout / "jinja2.py").write_text(f"open({str(planted)!r}, 'w').close()\nraise ImportError\n")
    bake = str(Path(sys.executable).parent / "bake")  # the installed command: no directory on its path
    assert subprocess.run([bake, "--list=targets"], cwd=checkout, env=env, capture_output=True).returncode == 0
    _server_up(sockets)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "events.jsonl").write_text("")
    r = subprocess.run([bake, "report", "events.jsonl", "-o", "report.html"], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=60)
    assert not planted.exists(), r.stderr
    assert r.returncode == 0 and (elsewhere / "report.html").exists(), r.stderr


@needs_root
def test_a_package_directory_the_user_cannot_read_does_not_break_bake(bakeuser_dir: Path) -> None:
    """(A stray directory in the installed package, root's and closed, that no command imports.)"""
    copy = bakeuser_dir / "code"
    shutil.copytree(Path(client.__file__).parents[1], copy / "bake", ignore=shutil.ignore_patterns("__pycache__"))
    copy.chmod(0o755)
    (copy / "bake" / "closed").mkdir(mode=0o700)
    project = bakeuser_dir / "project"
    project.mkdir()
    (project / "docker-bake.hcl").write_text(HCL)
    env = {**_env(bakeuser_dir / "servers"), "HOME": str(bakeuser_dir), "PYTHONPATH": str(copy), "GREETING": "hi"}
    for _ in range(2):
        r = subprocess.run([*as_bakeuser, sys.executable, "-m", "bake", "--print"], cwd=project, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and '"GREETING": "hi"' in r.stdout, r.stderr


def test_descriptors_the_client_inherited_are_the_commands_under_their_numbers(sockets: Path, tmp_path: Path) -> None:
    """``bake -f <(generate)`` reads /dev/fd/63: the served command has that descriptor too."""
    env, project = _env(sockets), _project(tmp_path)
    _started(sockets, project, env)
    read, write = os.pipe()
    os.write(write, HCL.encode())
    os.close(write)
    as_63 = (f"import os, sys; os.dup2({read}, 63); os.close({read}); "
             "os.execv(sys.executable, [sys.executable, '-m', 'bake', '-f', '/dev/fd/63', '--print'])")
    r = subprocess.run([sys.executable, "-c", as_63], cwd=project, env={**env, "GREETING": "piped"},
                       pass_fds=(read,), capture_output=True, text=True, timeout=60)
    os.close(read)
    assert r.returncode == 0 and '"GREETING": "piped"' in r.stdout, r.stderr


@pytest.mark.root
def test_rawjson_progress_to_a_pipe_is_the_same_events(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    (project / "a").write_text("a\n")
    (project / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    args = ("--progress=rawjson", "--set", "*.output=type=cacheonly")
    assert _bake(project, {**env, "BAKE_SERVER": "off"}, *args).returncode == 0
    _started(sockets, project, env)
    answers = []
    for run in ({**env, "BAKE_SERVER": "off"}, env):
        r = _bake(project, run, *args)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        answers.append((r.returncode, r.stderr, [{k: v for k, v in e.items() if k != "at"} for e in events]))
    assert answers[0] == answers[1] and answers[0][2], answers


def test_an_installed_package_changes_the_fingerprint_and_a_file_made_in_a_checkout_does_not(tmp_path: Path) -> None:
    site, checkout = tmp_path / "lib" / "site-packages", tmp_path / "checkout"
    site.mkdir(parents=True)
    checkout.mkdir()
    paths = [str(site), str(checkout)]
    before = fingerprint._paths_mtimes(paths)
    (checkout / ".coverage").write_text("")  # as a test run leaves beside the code
    os.utime(checkout, ns=(0, 1))
    assert fingerprint._paths_mtimes(paths) == before
    (site / "newpkg-1.0.dist-info").mkdir()
    os.utime(site, ns=(0, 2))
    assert fingerprint._paths_mtimes(paths) != before


def test_a_socket_directory_deeper_than_a_unix_address_holds_still_has_its_server(tmp_path: Path) -> None:
    sockets = tmp_path / ("deep" * 30) / "servers"  # far beyond a unix socket address's 107 bytes
    sockets.parent.mkdir()
    env, project = _env(sockets), _project(tmp_path)
    try:
        server = _started(sockets, project, env)
        proc, _ = _blocked_on_stdin(project, {**env, "GREETING": "deep"}, server)
        out, err = proc.communicate(HCL, timeout=60)
        assert proc.returncode == 0 and '"GREETING": "deep"' in out, err
    finally:
        for pid in _servers(sockets):
            os.kill(pid, signal.SIGKILL)
