"""A small Docker Engine API client over httpx: ``unix://`` sockets and ``tcp://`` (TLS with the
context's certificates). Paths are unversioned: the engine answers them in its own current API
version, and the few endpoints used here are the same in every version since 1.24.

Every failure reaching the caller is a ``DockerError`` naming the engine.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from bake.docker import DockerError
from bake.docker.context import Engine

_TIMEOUT = httpx.Timeout(600.0, connect=10.0)  # a load of a big image streams for a while


def transport(engine: Engine) -> tuple[str, httpx.HTTPTransport]:
    """The base URL and transport that reach ``engine``."""
    scheme, _, rest = engine.host.partition("://")
    if scheme == "unix":
        if not os.path.exists(rest):  # also spares httpcore's connect, which leaks its socket when it fails
            raise DockerError(f"cannot reach the engine: no socket at {rest}", engine.host)
        return "http://docker", httpx.HTTPTransport(uds=rest)
    if scheme == "tcp":
        if not engine.tls:
            return f"http://{rest}", httpx.HTTPTransport()
        return f"https://{rest}", httpx.HTTPTransport(verify=tls_context(engine))
    raise DockerError(f"unsupported endpoint scheme {scheme!r} (supported: unix://, tcp://)", engine.host)


def tls_context(engine: Engine) -> ssl.SSLContext:
    """The context's CA, client certificate and key (``ca.pem``, ``cert.pem``, ``key.pem``)."""
    ca = os.path.join(engine.tls, "ca.pem")
    ctx = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)
    if not engine.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert, key = os.path.join(engine.tls, "cert.pem"), os.path.join(engine.tls, "key.pem")
    if os.path.exists(cert):
        ctx.load_cert_chain(cert, key)
    return ctx


class DockerClient:
    """``with DockerClient(engine) as docker: docker.ping()``."""

    def __init__(self, engine: Engine, transport_: httpx.BaseTransport | None = None) -> None:
        self.engine = engine
        base, default = (("http://docker", transport_) if transport_ is not None else transport(engine))
        self.http = httpx.Client(base_url=base, transport=default, timeout=_TIMEOUT)

    def __enter__(self) -> DockerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.TransportError as err:
            raise DockerError(f"cannot reach the engine: {err}", self.engine.host) from None
        if resp.status_code >= 400:
            raise DockerError(f"{method} {path}: {resp.status_code} {_message(resp)}", self.engine.host,
                              resp.status_code)
        return resp

    def ping(self) -> str:
        """The engine's API version (the ``API-Version`` header of ``/_ping``)."""
        return str(self._send("GET", "/_ping").headers.get("API-Version", ""))

    def version(self) -> dict[str, Any]:
        doc: dict[str, Any] = self._send("GET", "/version").json()
        return doc

    def load(self, tarball: Iterable[bytes]) -> list[str]:
        """``POST /images/load`` of a ``docker save`` tarball; the engine's lines ("Loaded image: x:1").
        The engine reports a bad tarball in the 200 response's stream: that is a ``DockerError`` too."""
        try:
            with self.http.stream("POST", "/images/load", params={"quiet": "1"}, content=tarball,
                                  headers={"Content-Type": "application/x-tar"}) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise DockerError(f"loading the image: {resp.status_code} {_message(resp)}", self.engine.host,
                                      resp.status_code)
                return list(_messages(resp.iter_lines(), self.engine.host))
        except httpx.TransportError as err:
            raise DockerError(f"loading the image: {err}", self.engine.host) from None

    def images(self, reference: str = "") -> list[dict[str, Any]]:
        """``GET /images/json``, filtered by ``reference`` when given."""
        params = {"filters": json.dumps({"reference": [reference]})} if reference else {}
        found: list[dict[str, Any]] = self._send("GET", "/images/json", params=params).json()
        return found

    def inspect(self, name: str) -> dict[str, Any] | None:
        """``GET /images/{name}/json``; None when the engine has no such image."""
        try:
            doc: dict[str, Any] = self._send("GET", f"/images/{name}/json").json()
        except DockerError as err:
            if err.status == 404:
                return None
            raise
        return doc

    def remove(self, name: str) -> None:
        """``DELETE /images/{name}`` (forced); an absent image is not an error."""
        try:
            self._send("DELETE", f"/images/{name}", params={"force": "1"})
        except DockerError as err:
            if err.status != 404:
                raise


def _message(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.text.strip()
    return str(doc.get("message") or doc) if isinstance(doc, dict) else str(doc)


def _messages(lines: Iterator[str], host: str) -> Iterator[str]:
    """The text of a JSON message stream; an ``error`` entry raises."""
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            yield line.strip()
            continue
        if not isinstance(doc, dict):
            continue
        if doc.get("error") or doc.get("errorDetail"):
            detail = doc.get("errorDetail") or {}
            raise DockerError(f"loading the image: {doc.get('error') or detail.get('message')}", host)
        text = str(doc.get("stream") or doc.get("status") or "").strip()
        if text:
            yield text


def load_file(path: str, engine: Engine, chunk: int = 1 << 20) -> list[str]:
    """Stream the ``docker save``-format tarball at ``path`` into ``engine``; the names it loaded."""
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while data := f.read(chunk):
                yield data

    with DockerClient(engine) as docker:
        lines = docker.load(chunks())
    return [line.removeprefix("Loaded image: ").removeprefix("Loaded image ID: ") for line in lines
            if line.startswith("Loaded image")]
