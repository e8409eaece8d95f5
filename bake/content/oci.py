"""OCI image types: descriptors, manifests, indexes and image configs.

Each parsed document keeps the exact bytes it came from (``raw``): a manifest's digest is the
digest of those bytes, so re-serialising would break every reference to it. Documents we build
are encoded once, canonically (compact JSON, keys in the spec's order), and keep those bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bake._record import record

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
INDEX_TYPES = (INDEX, DOCKER_LIST)
INLINE_CACHE = "bake.cache.v1"  # cache-to type=inline: a top-level image config field (cf. moby.buildkit.cache.v0)
MANIFEST_TYPES = (MANIFEST, DOCKER_MANIFEST)


class OCIError(ValueError):
    """A document that is not what its media type promises."""


@record
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) < 2:
            raise OCIError(f"invalid platform {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 else "")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


@record
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        # Go's field order (annotations before platform) and sorted map keys, as BuildKit writes them
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations))
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Descriptor:
        try:
            p = d.get("platform")
            platform = Platform(p["os"], p["architecture"], p.get("variant", "")) if p else None
            return cls(d["mediaType"], d["digest"], int(d["size"]), platform, tuple(sorted((d.get("annotations") or {}).items())))
        except (KeyError, TypeError, ValueError) as err:
            raise OCIError(f"invalid descriptor: {err}") from None


@record
class Document:
    """A JSON document with the bytes it is addressed by."""

    media_type: str
    body: dict[str, Any]
    raw: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()

    def descriptor(self, platform: Platform | None = None, annotations: tuple[tuple[str, str], ...] = ()) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw), platform, annotations)


def encode(body: dict[str, Any], indent: bool = False) -> bytes:
    """Canonical bytes for a document we create: compact (``indent``: two spaces a level, as Go's
    MarshalIndent), key order as written, UTF-8, and the characters Go's encoding/json escapes
    escaped as it does (``<`` as ``\\u003c``…), so that a document BuildKit writes and ours are the
    same bytes."""
    text = json.dumps(body, indent=2, ensure_ascii=False) if indent else json.dumps(
        body, separators=(",", ":"), ensure_ascii=False)
    return text.translate(_GO_ESCAPES).encode()


# only ever inside JSON strings, so replacing them in the whole text is safe
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                             "\u2029": "\\u2029"})


def parse(raw: bytes, media_type: str | None = None) -> Document:
    """Parse a manifest, index or config, keeping ``raw``; the media type comes from the document
    when it declares one."""
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise OCIError(f"not JSON: {err}") from None
    if not isinstance(body, dict):
        raise OCIError("an OCI document must be a JSON object")
    declared = body.get("mediaType")
    kind = declared or media_type or (INDEX if "manifests" in body else MANIFEST if "layers" in body else CONFIG)
    if media_type and declared and declared != media_type:
        raise OCIError(f"document says {declared}, expected {media_type}")
    if kind in MANIFEST_TYPES and not isinstance(body.get("layers"), list):
        raise OCIError("a manifest needs a layers list")
    if kind in INDEX_TYPES and not isinstance(body.get("manifests"), list):
        raise OCIError("an index needs a manifests list")
    return Document(kind, body, raw)


def manifest(config: Descriptor, layers: list[Descriptor], annotations: dict[str, str] | None = None,
             kind: str = MANIFEST) -> Document:
    """An image manifest (``kind``: OCI, or Docker's schema 2, which carries no annotations)."""
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": kind, "config": config.to_json(),
                            "layers": [layer.to_json() for layer in layers]}
    if annotations and kind == MANIFEST:
        body["annotations"] = dict(sorted(annotations.items()))
    return Document(kind, body, encode(body))


def index(manifests: list[Descriptor], annotations: dict[str, str] | None = None, kind: str = INDEX) -> Document:
    """An image index (a multi-platform image), indented as BuildKit writes it (Go's MarshalIndent)."""
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": kind, "manifests": [m.to_json() for m in manifests]}
    if annotations and kind == INDEX:
        body["annotations"] = dict(sorted(annotations.items()))
    return Document(kind, body, encode(body, indent=True))


def select(index_doc: Document, platform: Platform) -> Descriptor:
    """The manifest of an index for ``platform`` (a missing variant matches any, as registries do)."""
    candidates = [Descriptor.from_json(m) for m in index_doc.body["manifests"]]
    for d in candidates:
        p = d.platform
        if p and p.os == platform.os and p.architecture == platform.architecture and (
                not platform.variant or p.variant == platform.variant):
            return d
    raise OCIError(f"no manifest for {platform} (have {', '.join(str(d.platform) for d in candidates if d.platform)})")
