"""The ``dockerd`` fixture: a private Docker engine (Debian's docker.io, with its built-in BuildKit)
for the ``docker`` driver and ``--load`` tests, started once per session by scripts/dockerd.sh on
its own socket and data root, and stopped at the end. It needs the ``registry`` fixture (of
tests/integration/conftest.py, where it is registered).

``BAKE_TEST_DOCKER_HOST=unix:///…/docker.sock`` uses an engine already running instead (the
example builds then need its docker.io mirror to serve busybox). Without
one, the engine needs real root: the tests skip, saying why, for an ordinary user and inside a
user namespace (CI's rootless pass; its root pass runs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dockerd.sh"


def _initial_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def _why_not() -> str:
    if os.geteuid() != 0:
        return "dockerd needs root: CI's root pass runs this test (or set BAKE_TEST_DOCKER_HOST)"
    if not _initial_user_namespace():
        return "dockerd cannot run in a user namespace (CI's rootless pass); CI's root pass runs this test"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed (scripts/setup.sh installs Debian's docker.io)"
    return ""


_TLS: dict[str, str] = {}  # the running engine's TLS listener: host and client certificate directory


def _certificates(d: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as ``docker`` names them
    (``ca.pem``, ``cert.pem``, ``key.pem`` in the returned directory; the server's beside them)."""
    client = d / "client"
    client.mkdir()

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=bake test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client/", "extendedKeyUsage=clientAuth")):
        key, cert = (f"{name}key.pem", f"{name}cert.pem") if name.endswith("/") else (f"{name}-key.pem", f"{name}.pem")
        (d / "ext.cnf").write_text(ext + "\n")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", "req.csr", "-subj", "/CN=127.0.0.1")
        ssl("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out",
            cert, "-days", "2", "-extfile", "ext.cnf")
    (client / "ca.pem").write_bytes((d / "ca.pem").read_bytes())
    return client


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """``DOCKER_HOST`` of a private dockerd (``unix:///…/docker.sock``) whose docker.io mirror is the
    session's registry (so ``FROM busybox`` is the seeded busybox, as for bake with ``mirror_config``).
    It also listens on a loopback TCP port with TLS (``dockerd_tls``)."""
    given = os.environ.get("BAKE_TEST_DOCKER_HOST")
    if given:
        yield given
        return
    why = _why_not()
    if why:
        pytest.skip(why)
    registry: str = request.getfixturevalue("registry")  # only when an engine starts
    import socket

    d = tmp_path_factory.mktemp("dockerd")
    certs = _certificates(tmp_path_factory.mktemp("dockerd-tls"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = certs.parent
    started = subprocess.run(["bash", str(SCRIPT), "start", str(d), f"--registry-mirror=http://{registry}",
                              f"--host=tcp://127.0.0.1:{port}", "--tlsverify", f"--tlscacert={server / 'ca.pem'}",
                              f"--tlscert={server / 'server.pem'}", f"--tlskey={server / 'server-key.pem'}"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, f"scripts/dockerd.sh start failed:\n{started.stderr}"
    host = started.stdout.strip().rpartition("DOCKER_HOST=")[2]
    _TLS.update(host=f"tcp://127.0.0.1:{port}", certs=str(certs))
    try:
        yield host
    finally:
        _TLS.clear()
        subprocess.run(["bash", str(SCRIPT), "stop", str(d)], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def dockerd_tls(dockerd: str) -> tuple[str, str]:
    """The same engine over TLS: ``(tcp://127.0.0.1:PORT, the client's certificate directory)``."""
    if not _TLS:
        pytest.skip("BAKE_TEST_DOCKER_HOST names an engine of its own: no TLS listener of the test's")
    return _TLS["host"], _TLS["certs"]
