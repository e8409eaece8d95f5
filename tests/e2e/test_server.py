"""The build server: a second ``bake`` is answered by a fork of a process that imported everything,
with the client's streams, directory, environment, exit code and signals — the same command as
one run in a process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.cli import client

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
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]


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


def _blocked_on_stdin(project: Path, env: dict[str, str], server: int) -> tuple[subprocess.Popen[str], int]:
    """A client whose command waits for its bake file on stdin; the server's fork running it."""
    proc = subprocess.Popen([sys.executable, "-m", "bake", "-f", "-", "--print"], cwd=project, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not _children(server):
        assert time.monotonic() < deadline and proc.poll() is None, "the server did not take the command"
        time.sleep(0.02)
    (fork,) = _children(server)
    return proc, fork


def test_the_second_command_runs_in_a_fork_of_the_server_with_the_clients_world(sockets: Path,
                                                                                tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = _env(sockets)
    server = _started(sockets, project, env)

    proc, fork = _blocked_on_stdin(project, {**env, "GREETING": "bonjour"}, server)
    assert os.readlink(f"/proc/{fork}/cwd") == str(project)  # the client's directory
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
    """The fork has sent its answer "R" (its relay thread starts right after), and the client has had time to read it."""
    _until(lambda: len(list(Path(f"/proc/{fork}/task").iterdir())) > 1, "the fork answered")
    time.sleep(0.2)


def test_ctrl_z_stops_the_command_with_its_client_and_fg_continues_both(sockets: Path, tmp_path: Path) -> None:
    env, project = _env(sockets), _project(tmp_path)
    server = _started(sockets, project, env)
    proc, fork = _blocked_on_stdin(project, {**env, "GREETING": "hi"}, server)
    _answered(fork)
    proc.send_signal(signal.SIGTSTP)
    _until(lambda: _state(proc.pid) == "T" and _state(fork) == "T", "client and command stopped")
    proc.send_signal(signal.SIGCONT)
    _until(lambda: _state(fork) != "T", "the command continued")
    out, err = proc.communicate(HCL, timeout=60)
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
    facts = client.fingerprint()
    sockets.mkdir(mode=0o700)
    path = sockets / f"{client.digest(facts)}.sock"
    other = tmp_path / "facts"
    other.write_bytes(b"another interpreter, another namespace")
    server = subprocess.Popen([sys.executable, "-m", "bake.cli.server", str(path), str(other)], env=env)
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
    before = client._code(str(package))
    os.utime(module, ns=(0, 1))
    assert client._code(str(package)) != before


def _digest(*wrapper: str) -> str:
    code = "from bake.cli import client; print(client.digest(client.fingerprint()))"
    return subprocess.run([*wrapper, sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping a capability needs one to drop")
def test_a_client_with_fewer_rights_or_another_niceness_has_another_server() -> None:
    plain = _digest()
    assert _digest() == plain
    assert _digest("setpriv", "--bounding-set=-sys_admin", "--inh-caps=-all") != plain
    assert _digest("setpriv", "--no-new-privs") != plain
    assert _digest("nice", "-n", "5") != plain
