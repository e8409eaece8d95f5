"""Plain HTTP(S) downloads, for ``ADD <url>``: a body streamed into an open file, its digest, and
the headers that name and date it. httpx stays inside ``bake.registry`` (an import-linter
contract); the worker decides what the file is called and where it goes (``bake.worker.remote``).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, BinaryIO

from bake._record import record
from bake.errors import BakeError

if TYPE_CHECKING:
    import httpx


class DownloadError(BakeError):
    """The server answered with something other than 200, or the transfer failed."""


@record
class Downloaded:
    digest: str  # sha256:… of the bytes written
    disposition: str  # the Content-Disposition header ("" when absent)
    last_modified: str  # the Last-Modified header ("" when absent)


async def download(url: str, f: BinaryIO, client: httpx.AsyncClient | None = None) -> Downloaded:
    """Stream ``url``'s body into ``f`` (flushed and fsync'd); redirects are followed."""
    import httpx  # only when a URL is fetched: a warm build never pays for the import

    own = client is None
    http = client or httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=10.0))
    try:
        digest = hashlib.sha256()
        async with http.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise DownloadError(f"invalid response status {resp.status_code}")
            async for chunk in resp.aiter_bytes():
                digest.update(chunk)
                f.write(chunk)
            headers = resp.headers
        f.flush()
        os.fsync(f.fileno())
        return Downloaded("sha256:" + digest.hexdigest(), headers.get("Content-Disposition", ""),
                          headers.get("Last-Modified", ""))
    except httpx.HTTPError as err:
        raise DownloadError(str(err)) from None
    finally:
        if own:
            await http.aclose()
