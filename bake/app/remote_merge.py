"""Tarballs of several platforms built on BuildKit nodes: each platform's solve (on whichever node
serves it) sends its own tarball back as a part next to the destination; once every platform of
the target is built, bake joins the parts into the one file the embedded worker writes —

- ``type=tar``: each platform's files under its ``linux_amd64/``-style directory;
- ``type=oci``: one OCI layout whose ``index.json`` names an image index of every platform's
  manifest (blobs shared between platforms stored once), as BuildKit writes a multi-platform image.

Parts are removed either way; nothing is written at the destination when a platform failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import tarfile
from collections.abc import Sequence
from typing import Any

from bake._record import replace
from bake.app.outputs import TargetResult
from bake.content import oci
from bake.exporter.errors import ExportError
from bake.model import Plan, platform_dir

MERGED = ("tar", "oci")


def part(dest: str, platform: str) -> str:
    """Where one platform's tarball waits to be joined: beside ``dest``, hidden."""
    head, tail = os.path.split(dest)
    return os.path.join(head, f".{tail}.{platform.replace('/', '_')}.part")


def merge_parts(plan: Plan, results: list[TargetResult], cwd: str) -> list[TargetResult]:
    """``results`` (one per target) after joining each multi-platform tar/oci output's parts."""
    out = []
    for r in results:
        t = plan.targets[r.target]
        entries = [o for o in t.output or () if o.type in MERGED and len(r.platforms) > 1]
        for entry in entries:
            dest = entry.dest if os.path.isabs(entry.dest) else os.path.join(cwd, entry.dest)
            parts = [part(dest, p) for p in r.platforms]
            try:
                if r.error is None:
                    try:
                        if entry.type == "tar":
                            _tar(parts, r.platforms, dest)
                        else:  # the metadata names the joined index, as buildx's of one multi-platform solve
                            index = _oci(parts, r.platforms, dest)
                            meta = {k: v for k, v in (r.metadata or {}).items() if k != "containerimage.config.digest"}
                            r = replace(r, metadata={**meta, "containerimage.digest": index.digest,
                                                     "containerimage.descriptor": index.descriptor().to_json()})
                    except (OSError, tarfile.TarError, ValueError, KeyError) as err:
                        r = replace(r, error=ExportError(f"target {r.target}: output type={entry.type},dest={entry.dest}: "
                                                        f"joining the platforms' tarballs: {err}"))
            finally:
                for p in parts:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(p)
        out.append(r)
    return out


def _tar(parts: Sequence[str], platforms: Sequence[str], dest: str) -> None:
    tmp = dest + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        for path, platform in zip(parts, platforms, strict=True):
            prefix = platform_dir(platform)
            with tarfile.open(path) as tf:
                for m in tf:
                    data = tf.extractfile(m) if m.isreg() else None
                    m.name = f"{prefix}/{_relative(m.name)}".rstrip("/")
                    if m.islnk():
                        m.linkname = f"{prefix}/{_relative(m.linkname)}"
                    out.addfile(m, data)
    os.replace(tmp, dest)


def _relative(name: str) -> str:
    """A member name without its leading ``./`` or ``/`` (``.env`` stays ``.env``)."""
    return posixpath.normpath("/" + name).lstrip("/") if name not in ("", ".", "./") else ""


def _oci(parts: Sequence[str], platforms: Sequence[str], dest: str) -> oci.Document:
    """Every platform's image, then (as in BuildKit's index of several platforms) every
    platform's attestation manifest: a part that carries one is an index of both, which is
    taken apart and not copied itself."""
    manifests: list[oci.Descriptor] = []
    attestations: list[oci.Descriptor] = []
    names: dict[str, str] = {}
    tmp = dest + ".tmp"
    seen: set[str] = set()
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        for path, platform in zip(parts, platforms, strict=True):
            with tarfile.open(path) as tf:
                index = tf.extractfile("index.json")
                if index is None:
                    raise ValueError(f"the {platform} tarball the builder sent has no index.json")
                (top,) = json.loads(index.read())["manifests"]
                d = oci.Descriptor.from_json(top)
                names = names or {k: v for k, v in d.annotations if k in ("org.opencontainers.image.ref.name", "io.containerd.image.name")}
                inner = _blob(tf, d) if d.media_type in oci.INDEX_TYPES else None
                if inner is None:
                    manifests.append(replace(d, platform=d.platform or oci.Platform.parse(platform), annotations=()))
                else:
                    seen.add(_blob_name(d))
                    for m in (oci.Descriptor.from_json(x) for x in inner["manifests"]):
                        attested = dict(m.annotations).get("vnd.docker.reference.type") == "attestation-manifest"
                        (attestations if attested else manifests).append(m)
                for member in tf:
                    if member.name.startswith("blobs/") and member.name not in seen:
                        seen.add(member.name)
                        out.addfile(member, tf.extractfile(member) if member.isreg() else None)
        index_doc = oci.index(manifests + attestations)
        _add(out, f"blobs/sha256/{index_doc.digest.removeprefix('sha256:')}", index_doc.raw)
        top_index = {"schemaVersion": 2, "mediaType": oci.INDEX,
                     "manifests": [index_doc.descriptor(annotations=tuple(sorted(names.items()))).to_json()]}
        _add(out, "index.json", oci.encode(top_index))
        _add(out, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    os.replace(tmp, dest)
    return index_doc


def _blob_name(d: oci.Descriptor) -> str:
    return "blobs/" + d.digest.replace(":", "/", 1)


def _blob(tf: tarfile.TarFile, d: oci.Descriptor) -> dict[str, Any]:
    f = tf.extractfile(_blob_name(d))
    if f is None:
        raise ValueError(f"the tarball the builder sent lacks its index {d.digest}")
    body: dict[str, Any] = json.loads(f.read())
    return body


def _add(out: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(data))
