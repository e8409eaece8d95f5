"""The registry client's protocol handling, against httpx's mock transport."""

from __future__ import annotations

import hashlib
from typing import ClassVar

import httpx
import pytest

from bake.content import oci
from bake.content.store import ContentError, ContentStore
from bake.registry.client import RegistryClient
from bake.registry.reference import InvalidReference, parse_reference

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(("text", "want"), [
    ("alpine", "docker.io/library/alpine:latest"),
    ("user/app:1", "docker.io/user/app:1"),
    ("ghcr.io/o/r:v1@sha256:" + "a" * 64, "ghcr.io/o/r:v1@sha256:" + "a" * 64),
    ("localhost:5000/app", "localhost:5000/app:latest"),
])
async def test_references(text: str, want: str) -> None:
    assert str(parse_reference(text)) == want


async def test_bad_references() -> None:
    with pytest.raises(InvalidReference):
        parse_reference("UPPER/case")
    assert parse_reference("alpine").api_host == "registry-1.docker.io"
    assert not parse_reference("ghcr.io/o/r").insecure_by_default and parse_reference("127.0.0.1:5000/x").insecure_by_default


async def test_bearer_token_flow_retries_and_verified_blobs(tmp_path: object) -> None:
    blob = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    calls: list[str] = []
    flaky = {"count": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.url.host == "auth.example.com":
            assert request.url.params["scope"] == "repository:library/alpine:pull"
            assert request.headers["Authorization"].startswith("Basic ")
            return httpx.Response(200, json={"token": "T0K"})
        if request.headers.get("Authorization") != "Bearer T0K":
            return httpx.Response(401, headers={"WWW-Authenticate":
                'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:library/alpine:pull"'})
        if request.url.path.endswith("/blobs/" + digest):
            flaky["count"] += 1
            if flaky["count"] == 1:
                return httpx.Response(503)
            return httpx.Response(200, content=blob)
        return httpx.Response(200, content=b"wrong bytes")

    client = RegistryClient(credentials=lambda reg: ("me", "secret"), transport=httpx.MockTransport(handler))
    store = ContentStore(str(tmp_path))
    ref = parse_reference("alpine")
    try:
        assert await client.fetch_blob(ref, digest, store) == digest
        assert store.read(digest) == blob
        assert calls[:3] == [f"GET /v2/library/alpine/blobs/{digest}", "GET /token", f"GET /v2/library/alpine/blobs/{digest}"]
        assert flaky["count"] == 2  # the 503 was retried
        other = "sha256:" + "b" * 64
        with pytest.raises(ContentError, match="does not match"):
            await client.fetch_blob(ref, other, store)  # a registry returning wrong bytes is caught
        assert not store.exists(other)
    finally:
        await client.aclose()


async def test_index_selection() -> None:
    manifests = [oci.Descriptor(oci.MANIFEST, "sha256:" + c * 64, 1, oci.Platform("linux", a)) for c, a in (("1", "amd64"), ("2", "arm64"))]
    assert oci.select(oci.index(manifests), oci.Platform("linux", "arm64")).digest == "sha256:" + "2" * 64


class CountingTransport(httpx.AsyncBaseTransport):
    """Stands in for httpx.AsyncHTTPTransport: records how each was made and what it was sent."""

    made: ClassVar[list[bool]] = []

    def __init__(self, verify: bool = True, **_: object) -> None:
        self.made.append(verify)
        self.verify = verify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http" and request.url.path.endswith("/manifests/latest"):
            # a plain-HTTP mirror whose token realm is served over HTTPS
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.example.com/t"'})
        if request.url.host == "auth.example.com":
            return httpx.Response(200, json={"token": "T"})
        return httpx.Response(404)


async def test_plain_http_registry_loads_no_certificates_until_an_https_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpx, "AsyncHTTPTransport", CountingTransport)
    monkeypatch.setattr(CountingTransport, "made", [])
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    client = RegistryClient()
    ref = parse_reference("127.0.0.1:5000/library/busybox:1")
    await client._pulled(ref, "blobs/sha256:" + "0" * 64, "repository:library/busybox:pull")
    assert CountingTransport.made == [False]  # the plain transport: its SSL context holds no CA bundle
    await client._pulled(ref, "manifests/latest", "repository:library/busybox:pull")
    assert CountingTransport.made == [False, True]  # the token realm is HTTPS: verified
    await client.aclose()


class _Dropping(httpx.AsyncByteStream):
    """A body that breaks off after ``data``, as a reset connection does."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield self.data
        raise httpx.ReadError("connection reset by peer")


@pytest.mark.parametrize("ranges", [True, False])
async def test_a_download_that_breaks_off_resumes_where_it_stopped(ranges: bool, tmp_path: object) -> None:
    """Registries that honour ``Range`` send the rest (206); one that does not sends the whole blob
    again, whose first bytes are then skipped. Either way the blob is stored once, whole."""
    blob = bytes(range(256)) * 4000
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("Range"))
        if len(asked) == 1:
            return httpx.Response(200, stream=_Dropping(blob[:300_000]))
        start = int(request.headers["Range"][len("bytes="):-1])
        if ranges:
            return httpx.Response(206, content=blob[start:],
                                  headers={"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
        return httpx.Response(200, content=blob)

    client = RegistryClient(transport=httpx.MockTransport(handler))
    store = ContentStore(str(tmp_path))
    try:
        await client.fetch_blob(parse_reference("127.0.0.1:5000/app"), digest, store, len(blob))
    finally:
        await client.aclose()
    assert asked == [None, "bytes=300000-"] and store.read(digest) == blob
