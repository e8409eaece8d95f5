"""An OCI distribution client over httpx: resolve, pull into the content store, push exact bytes.

Auth: an anonymous or credentialed Bearer token from the ``WWW-Authenticate`` challenge, or Basic
credentials; credentials come from a ``lookup(registry) -> (user, password)`` callable (the
docker ``config.json`` reader plugs in there). Per-host settings (mirrors, plain HTTP, no TLS
verification) come from a RegistryConfig; loopback registries use plain HTTP. Pulls try each
mirror, then the registry; pushes go to the registry only. Transient failures (connection
errors, 5xx, 429) are retried with backoff.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.request import getproxies

import anyio
import httpx

from bake._record import record
from bake.content import oci
from bake.content.ingest import Ingest
from bake.content.store import ContentStore
from bake.errors import BakeError
from bake.registry.config import RegistryConfig
from bake.registry.reference import Reference, is_loopback

ACCEPT = ", ".join((oci.INDEX, oci.MANIFEST, oci.DOCKER_LIST, oci.DOCKER_MANIFEST))
Credentials = Callable[[str], tuple[str, str] | None]


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RegistryError(BakeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@record
class Endpoint:
    """One place a repository is served from: the registry itself or one of its mirrors."""

    host: str  # what credentials and tokens are keyed by
    base: str  # scheme://host/v2/
    verify: bool  # TLS certificate verification
    mirror: bool = False


class _SchemeTransport(httpx.AsyncBaseTransport):
    """httpx's transport, made per scheme on first use: a plain-HTTP registry (a loopback mirror)
    never loads a CA bundle, which costs 50–250 ms per process; an HTTPS request (also a redirect
    or a token realm of a plain-HTTP registry) gets a transport that verifies unless ``verify`` is off."""

    def __init__(self, verify: bool) -> None:
        self.verify = verify
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._tls: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            if self._plain is None:
                # its SSL context (made by httpx, never used for http://) loads no certificates
                self._plain = httpx.AsyncHTTPTransport(verify=False)
            return await self._plain.handle_async_request(request)
        if self._tls is None:
            self._tls = httpx.AsyncHTTPTransport(verify=self.verify)
        return await self._tls.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()


class RegistryClient:
    def __init__(self, credentials: Credentials | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 retries: int = 3, config: RegistryConfig | None = None) -> None:
        self.transport = transport
        # Both made on first use: loading the CA bundle costs ~50 ms, and a cached build asks no registry.
        self._verified: httpx.AsyncClient | None = None
        self._unverified: httpx.AsyncClient | None = None
        self.credentials = credentials or (lambda registry: None)
        self.retries = retries
        self.config = config or RegistryConfig()
        self.tokens: dict[tuple[str, str], str] = {}
        self.seen: dict[tuple[str, str], str] = {}  # (host, blob digest) → a repository holding it
        self.chunk_size = 16 << 20

    def _client(self, verify: bool) -> httpx.AsyncClient:
        transport = self.transport
        if transport is None and not any(getproxies().get(s) for s in ("http", "https", "all")):
            # (httpx honours proxy variables only for a client it makes the transport of)
            transport = _SchemeTransport(verify)
        return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(60.0, connect=10.0),
                                 follow_redirects=True, verify=verify)

    def _http(self, ep: Endpoint) -> httpx.AsyncClient:
        """Certificates are verified unless the endpoint is configured ``insecure`` — also for a
        plain-HTTP endpoint, whose redirects (to blob storage) and token realms may be https."""
        if ep.verify:
            if self._verified is None:
                self._verified = self._client(verify=True)
            return self._verified
        if self._unverified is None:
            self._unverified = self._client(verify=False)
        return self._unverified

    async def aclose(self) -> None:
        for client in (self._verified, self._unverified):
            if client is not None:
                await client.aclose()
        self._verified = self._unverified = None

    # --- requests -----------------------------------------------------------------------------

    def endpoints(self, ref: Reference, push: bool = False) -> list[Endpoint]:
        """Where to send a pull (mirrors in order, then the registry) or a push (the registry)."""
        def endpoint(host: str, api_host: str, mirror: bool) -> Endpoint:
            settings = self.config.host(host)
            scheme = "http" if settings.http or is_loopback(host) else "https"
            return Endpoint(host, f"{scheme}://{api_host}/v2/", not settings.insecure, mirror)
        mirrors = () if push else self.config.host(ref.registry).mirrors
        return [*(endpoint(m, m, True) for m in mirrors), endpoint(ref.registry, ref.api_host, False)]

    def _url(self, ep: Endpoint, ref: Reference, path: str) -> str:
        return f"{ep.base}{ref.repository}/{path}"

    async def _pulled(self, ref: Reference, path: str, scope: str, stream: bool = False,
                      **kw: object) -> httpx.Response:
        """GET from the first endpoint that has it; a mirror's miss or failure falls through. With
        ``stream``, the body is left unread (the caller reads and closes it)."""
        for ep in self.endpoints(ref):
            try:
                resp = await self._request(ep, "GET", self._url(ep, ref, path), scope, stream=stream, **kw)
            except RegistryError:
                if ep.mirror:
                    continue
                raise
            if resp.status_code in (200, 206) or not ep.mirror:
                return resp
            await resp.aclose()
        raise AssertionError("unreachable: the registry itself is the last endpoint")

    async def _request(self, ep: Endpoint, method: str, url: str, scope: str, stream: bool = False,
                       **kw: object) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        http = self._http(ep)
        for attempt in range(self.retries + 1):
            token = self.tokens.get((ep.host, scope))
            if token:
                headers["Authorization"] = token
            try:
                request = http.build_request(method, url, headers=headers, **kw)  # type: ignore[arg-type]
                resp = await http.send(request, stream=stream)
            except httpx.TransportError as err:
                if attempt == self.retries:
                    raise RegistryError(f"{method} {url}: {err}") from None
                await anyio.sleep(0.2 * 2**attempt)
                continue
            if resp.status_code == 401 and attempt < self.retries:
                await resp.aread()  # the challenge is in the headers; the body frees the connection
                if await self._authorize(ep, resp, scope):
                    continue
            if (resp.status_code >= 500 or resp.status_code == 429) and attempt < self.retries:
                await resp.aclose()
                await anyio.sleep(0.2 * 2**attempt)
                continue
            return resp
        raise AssertionError("unreachable")

    async def _authorize(self, ep: Endpoint, resp: httpx.Response, scope: str) -> bool:
        challenge = resp.headers.get("WWW-Authenticate", "")
        creds = self.credentials(ep.host)
        if challenge.lower().startswith("basic"):
            if creds is None:
                return False
            self.tokens[(ep.host, scope)] = _basic(*creds)
            return True
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in params:
            return False
        # ask for what this operation needs (a push needs pull,push even where the first challenge
        # names only pull), plus whatever the registry named, so one token serves every request
        wanted = scope.split()  # a mount asks for two repositories at once
        scopes = wanted + ([params["scope"]] if params.get("scope") and params["scope"] not in wanted else [])
        query = {"service": params.get("service", ""), "scope": scopes}
        auth = httpx.BasicAuth(*creds) if creds else None
        token_resp = await self._http(ep).get(params["realm"], params=query, auth=auth)
        if token_resp.status_code != 200:
            raise RegistryError(f"token request to {params['realm']} failed: {token_resp.status_code}", token_resp.status_code)
        body = token_resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            return False
        self.tokens[(ep.host, scope)] = f"Bearer {token}"
        return True

    # --- pull -----------------------------------------------------------------------------------

    async def manifest(self, ref: Reference, reference: str | None = None) -> oci.Document:
        """The manifest or index ``ref`` points at, verified against a pinned digest."""
        scope = f"repository:{ref.repository}:pull"
        resp = await self._pulled(ref, f"manifests/{reference or ref.object}", scope, headers={"Accept": ACCEPT})
        if resp.status_code != 200:
            raise RegistryError(f"{ref}: manifest not found ({resp.status_code})", resp.status_code)
        doc = oci.parse(resp.content, resp.headers.get("Content-Type", "").split(";")[0] or None)
        wanted = reference if reference and reference.startswith("sha256:") else ref.digest
        if wanted and doc.digest != wanted:
            raise RegistryError(f"{ref}: manifest digest {doc.digest} does not match {wanted}")
        return doc

    async def resolve(self, ref: Reference, platform: oci.Platform) -> tuple[oci.Document, str]:
        """(image manifest for ``platform``, the digest the reference resolved to)."""
        top = await self.manifest(ref)
        if top.media_type in oci.INDEX_TYPES:
            return await self.manifest(ref, oci.select(top, platform).digest), top.digest
        return top, top.digest

    async def fetch_blob(self, ref: Reference, digest: str, store: ContentStore, size: int | None = None) -> str:
        """Download a blob into the store unless it is there; verified (a wrong blob is never stored)."""
        if store.exists(digest):
            return digest
        with store.ingesting(digest, size) as ingest:
            await self.download_blob(ref, digest, ingest)
            await anyio.to_thread.run_sync(ingest.commit)
        return digest

    async def download_blob(self, ref: Reference, digest: str, ingest: Ingest) -> None:
        """Stream a blob's bytes into ``ingest`` as they arrive (its ``commit`` checks them). A
        connection that drops mid-body is resumed where it stopped with a ``Range`` request (a
        registry that sends the whole blob again has its first bytes skipped), ``retries`` times."""
        scope = f"repository:{ref.repository}:pull"
        for attempt in range(self.retries + 1):
            start = ingest.written
            resp = await self._pulled(ref, f"blobs/{digest}", scope, stream=True,
                                      headers={"Range": f"bytes={start}-"} if start else {})
            try:
                resumed = resp.status_code == 206 and resp.headers.get("Content-Range", "").startswith(
                    f"bytes {start}-")
                if resp.status_code != 200 and not (start and resumed):
                    raise RegistryError(f"{ref}: blob {digest} not found ({resp.status_code})", resp.status_code)
                skip = 0 if resumed else start
                async for chunk in resp.aiter_bytes():
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if chunk:
                        ingest.write(chunk)
                self.seen[(self.endpoints(ref)[-1].host, digest)] = ref.repository  # a push may mount it
                return
            except httpx.TransportError as err:
                if attempt == self.retries:
                    raise RegistryError(f"{ref}: blob {digest}: {err}") from None
            finally:
                await resp.aclose()
            await anyio.sleep(0.2 * 2**attempt)

    async def pull(self, ref: Reference, platform: oci.Platform, store: ContentStore) -> oci.Document:
        """Fetch an image's manifest, config and layers into ``store``; returns the manifest."""
        manifest, _ = await self.resolve(ref, platform)
        store.write(manifest.raw)
        await self.fetch_blob(ref, manifest.body["config"]["digest"], store)
        for layer in manifest.body["layers"]:
            await self.fetch_blob(ref, layer["digest"], store, layer.get("size"))
        return manifest

    # --- push -----------------------------------------------------------------------------------

    async def push_blob(self, ref: Reference, digest: str, data: bytes) -> bool:
        """Upload a blob unless the registry has it; True if bytes were sent. A blob this client saw in
        another repository of the same registry is mounted from there (no upload); a large one goes
        up in ``chunk_size`` PATCH requests."""
        scope = f"repository:{ref.repository}:pull,push"
        ep = self.endpoints(ref, push=True)[0]
        head = await self._request(ep, "HEAD", self._url(ep, ref, f"blobs/{digest}"), scope)
        if head.status_code == 200:
            self.seen[(ep.host, digest)] = ref.repository
            return False
        uploads = self._url(ep, ref, "blobs/uploads/")
        source = self.seen.get((ep.host, digest))
        if source is not None and source != ref.repository:
            mount_scope = f"{scope} repository:{source}:pull"
            mounted = await self._request(ep, "POST", uploads, mount_scope, params={"mount": digest, "from": source})
            if mounted.status_code == 201:
                self.seen[(ep.host, digest)] = ref.repository
                return False
            start = mounted  # 202: the registry started a normal upload instead
        else:
            start = await self._request(ep, "POST", uploads, scope)
        if start.status_code not in (201, 202):
            raise RegistryError(f"{ref}: cannot start upload ({start.status_code})", start.status_code)
        location = str(httpx.URL(uploads).join(start.headers["Location"]))
        body = data
        if len(data) > self.chunk_size:
            for offset in range(0, len(data), self.chunk_size):
                chunk = data[offset:offset + self.chunk_size]
                patch = await self._request(ep, "PATCH", location, scope, content=chunk, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Length": str(len(chunk))})
                if patch.status_code != 202:
                    raise RegistryError(f"{ref}: chunk upload failed ({patch.status_code})", patch.status_code)
                location = str(httpx.URL(location).join(patch.headers["Location"]))
            body = b""
        # httpx's params= would replace the upload URL's own query (its state); append instead
        url = location + ("&" if "?" in location else "?") + f"digest={digest}"
        put = await self._request(ep, "PUT", url, scope, content=body,
                                  headers={"Content-Type": "application/octet-stream"})
        if put.status_code != 201:
            raise RegistryError(f"{ref}: blob upload failed ({put.status_code})", put.status_code)
        self.seen[(ep.host, digest)] = ref.repository
        return True

    async def pushed_digest(self, ref: Reference) -> str | None:
        """The digest the registry serves for ``ref``'s tag now (one HEAD), or None."""
        scope = f"repository:{ref.repository}:pull,push"
        ep = self.endpoints(ref, push=True)[0]
        resp = await self._request(ep, "HEAD", self._url(ep, ref, f"manifests/{ref.tag or 'latest'}"), scope,
                                   headers={"Accept": ACCEPT})
        return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None

    async def push_manifest(self, ref: Reference, doc: oci.Document, tag: str | None = None) -> str:
        """PUT the document's exact bytes; returns its digest."""
        scope = f"repository:{ref.repository}:pull,push"
        ep = self.endpoints(ref, push=True)[0]
        resp = await self._request(ep, "PUT", self._url(ep, ref, f"manifests/{tag or ref.tag or doc.digest}"), scope,
                                   content=doc.raw, headers={"Content-Type": doc.media_type})
        if resp.status_code != 201:
            raise RegistryError(f"{ref}: manifest upload failed ({resp.status_code}): {resp.text[:200]}", resp.status_code)
        return doc.digest


def default_client(config_file: str | None = None) -> RegistryClient:
    """A client as a build uses it: credentials from Docker's config.json, registry settings
    from bake's config file (``config_file``, $BAKE_CONFIG or the default path)."""
    from bake.registry import auth, config

    return RegistryClient(credentials=auth.DockerConfigCredentials(), config=config.load(config_file))
