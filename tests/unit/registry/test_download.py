"""ADD <url>'s transfer over httpx's mock transport: the body, its digest and naming headers; errors."""

from __future__ import annotations

import hashlib
import tempfile

import anyio
import httpx
import pytest

from bake.registry.download import Downloaded, DownloadError, download


def fetch(handler: httpx.MockTransport, url: str = "https://example.test/a.sh") -> tuple[Downloaded, bytes]:
    async def go() -> tuple[Downloaded, bytes]:
        with tempfile.TemporaryFile() as f:
            async with httpx.AsyncClient(transport=handler) as client:
                got = await download(url, f, client)
            f.seek(0)
            return got, f.read()

    return anyio.run(go)


def test_the_body_its_digest_and_headers() -> None:
    body = b"#!/bin/sh\necho hi\n" * 1000
    transport = httpx.MockTransport(lambda req: httpx.Response(200, content=body, headers={
        "Content-Disposition": 'attachment; filename="tool.sh"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    got, data = fetch(transport)
    assert data == body
    assert got == Downloaded("sha256:" + hashlib.sha256(body).hexdigest(), 'attachment; filename="tool.sh"',
                             "Wed, 21 Oct 2015 07:28:00 GMT")


def test_absent_headers_are_empty() -> None:
    got, data = fetch(httpx.MockTransport(lambda req: httpx.Response(200, content=b"")))
    assert (got.disposition, got.last_modified, data) == ("", "", b"")


def test_a_status_other_than_200_is_an_error() -> None:
    with pytest.raises(DownloadError, match=r"^invalid response status 404$"):
        fetch(httpx.MockTransport(lambda req: httpx.Response(404)))


def test_a_transport_failure_is_an_error() -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    with pytest.raises(DownloadError, match="connection refused"):
        fetch(httpx.MockTransport(refuse))

