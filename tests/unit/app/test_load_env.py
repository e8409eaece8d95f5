"""``--load`` on the embedded worker goes to the Docker engine the *request's* environment names
(``DOCKER_HOST``, else ``DOCKER_CONTEXT`` in ``DOCKER_CONFIG``), not the process's: a Python caller
that passes ``env=`` to ``bake.build`` is obeyed, as the CLI obeys its own environment.

Two fake engines on unix sockets count the loads they receive; the process environment names the
one that must receive nothing. The builds run as root in this process (``FROM scratch`` + ``COPY``)."""

from __future__ import annotations

import hashlib
import io
import json
import socketserver
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import bake

pytestmark = pytest.mark.root  # the worker mounts its snapshots


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        head = []
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            head.append(line.decode())
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        body = b""
        if headers.get("transfer-encoding") == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(headers.get("content-length", "0")))
        engine: FakeEngine = self.server  # type: ignore[assignment]
        if head and head[0].startswith("POST /images/load"):
            engine.loads.append(body)
            status, answer = "200 OK", json.dumps({"stream": "Loaded image: app:1\n"}).encode()
        else:
            status, answer = "404 Not Found", b'{"message": "not here"}'
        self.wfile.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + answer)


class FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A Docker engine answering ``POST /images/load``; ``loads`` holds each tarball it was sent."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.loads: list[bytes] = []
        self.host = f"unix://{path}"
        super().__init__(str(path), _Handler)


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeEngine, FakeEngine]]:
    """(the engine the process environment names, the one for the request's environment)."""
    made = (FakeEngine(tmp_path / "process.sock"), FakeEngine(tmp_path / "request.sock"))
    threads = [threading.Thread(target=e.serve_forever, daemon=True) for e in made]
    for t in threads:
        t.start()
    monkeypatch.setenv("DOCKER_HOST", made[0].host)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    yield made
    for e in made:
        e.shutdown()
        e.server_close()


def context_config(directory: Path, name: str, host: str) -> None:
    """A Docker config directory holding context ``name`` (its endpoint ``host``), as ``docker context create`` writes it."""
    meta = directory / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


@pytest.mark.parametrize("how", ["DOCKER_HOST", "DOCKER_CONTEXT"])
def test_load_goes_to_the_engine_of_the_requests_environment(tmp_path: Path, engines: tuple[FakeEngine, FakeEngine],
                                                              how: str) -> None:
    process, request = engines
    (tmp_path / "docker-bake.hcl").write_text('target "app" {\n  dockerfile-inline = "FROM scratch\\nCOPY data /data\\n"\n'
                                              '  tags = ["app:1"]\n  output = ["type=docker"]\n}\n')
    (tmp_path / "data").write_text("one\n")
    env = {"BAKE_ROOT": str(tmp_path / "root")}
    if how == "DOCKER_HOST":
        env["DOCKER_HOST"] = request.host
    else:
        context_config(tmp_path / "docker", "elsewhere", request.host)
        env |= {"DOCKER_CONFIG": str(tmp_path / "docker"), "DOCKER_CONTEXT": "elsewhere"}
    (result,) = bake.build(targets=["app"], cwd=str(tmp_path), env=env)
    assert process.loads == [] and len(request.loads) == 1
    with tarfile.open(fileobj=io.BytesIO(request.loads[0])) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["app:1"]
    assert result.outputs == (f"loaded into the Docker engine at {request.host}: app:1",)
