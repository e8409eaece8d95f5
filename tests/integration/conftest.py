from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dockerd import dockerd, dockerd_tls  # noqa: F401  (session fixtures: a private Docker engine)
from tests.integration.tokenserver import ISSUER, SERVICE, TokenServer, make_key


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal Linux rootfs: Debian's static busybox with its applets, and users root, app."""
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir()
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is installed by scripts/setup.sh"
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", root / "bin" / name)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nwheel:x:10:app\n")
    return root


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _serve_registry(d: Path, auth: str = "") -> Iterator[str]:
    """Run Debian's docker-registry (distribution v2) on a free loopback port: yields ``127.0.0.1:PORT``."""
    import socket
    import time
    import urllib.error
    import urllib.request

    exe = shutil.which("docker-registry")
    assert exe, "docker-registry is installed by scripts/setup.sh"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = d / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " + str(d / "data")
        + "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" + str(port) + "\n" + auth
    )
    proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except urllib.error.HTTPError as err:  # up, and asking for a token
                if err.code == 401:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An open registry: ``127.0.0.1:PORT``."""
    yield from _serve_registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenServer]]:
    """A registry that demands Bearer tokens from our own token server (user ``tester``, password ``s3cret``)."""
    d = tmp_path_factory.mktemp("token-registry")
    key, cert, kid = make_key(d)
    server = TokenServer(key, kid, "tester", "s3cret")
    auth = (f"auth:\n  token:\n    realm: {server.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {cert}\n")
    try:
        for host in _serve_registry(d, auth):
            yield host, server
    finally:
        server.close()


@pytest.fixture(scope="session")
def busybox_image(registry: str) -> str:
    """``127.0.0.1:PORT/library/busybox``: the demo's busybox image (scripts/seed_registry.py) in the registry."""
    import sys

    script = Path(__file__).parents[2] / "scripts" / "seed_registry.py"
    subprocess.run([sys.executable, str(script), registry], check=True, capture_output=True)
    return f"{registry}/library/busybox"
