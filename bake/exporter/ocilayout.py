"""``type=oci`` and ``type=docker``: images written as an OCI image layout, as a tar (default) or a
directory (``tar=false``). The docker flavour adds ``manifest.json`` so ``docker load`` and
``skopeo docker-archive:`` read it (BuildKit writes no ``repositories``). Several images (targets,
tags) can share one layout: each is an entry of ``index.json`` named by
``org.opencontainers.image.ref.name``. The small files are BuildKit v0.32.2's bytes.

Members come in BuildKit's order (blobs, then the small files by name) with its modes, times
zeroed, written as Go's archive/tar writes them: the tarball is BuildKit's bytes. A tar is written through
``atomic_file``; a directory is staged beside ``dest`` and moved in at the end. A missing parent of
``dest`` is created, as buildx does. Every blob is hashed as it is copied out of the store: a
damaged one raises ``CorruptContent`` and nothing is written (the caller repairs it and exports
again); a blob already in a destination directory is kept only if its bytes match its digest.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from bake._record import record
from bake.content import oci
from bake.content.atomic import atomic_file, disk_full_is_an_error
from bake.content.gotar import GoTarInfo, go_tar
from bake.content.store import ContentStore
from bake.exporter.errors import ExportError


@record
class Named:
    """An image (manifest or index) and the names it is exported under. ``created`` (RFC 3339, the
    SOURCE_DATE_EPOCH or the build's time) annotates its index entries, as BuildKit's exporter
    does; ``cache`` marks a cache manifest, named by its bare tag and nothing else."""

    descriptor: oci.Descriptor
    names: tuple[str, ...] = ()
    created: str = ""
    cache: bool = False


def blobs(store: ContentStore, desc: oci.Descriptor) -> list[oci.Descriptor]:
    """Every blob ``desc`` reaches (itself first), each once."""
    out: list[oci.Descriptor] = []
    seen: set[str] = set()

    def visit(d: oci.Descriptor) -> None:
        if d.digest in seen:
            return
        seen.add(d.digest)
        out.append(d)
        if d.media_type in oci.INDEX_TYPES or d.media_type in oci.MANIFEST_TYPES:
            body = json.loads(store.read(d.digest))
            if d.media_type in oci.INDEX_TYPES:
                for m in body["manifests"]:
                    visit(oci.Descriptor.from_json(m))
            else:
                visit(oci.Descriptor.from_json(body["config"]))
                for layer in body["layers"]:
                    visit(oci.Descriptor.from_json(layer))

    visit(desc)
    return out


def layout_files(store: ContentStore, images: Sequence[Named], docker: bool = False,
                 full_names: bool = False) -> Iterator[tuple[str, bytes | oci.Descriptor]]:
    """(path, content) of the layout: bytes for small files, a descriptor for blobs. Images are
    named by tag, as BuildKit names them, or by their whole name (``full_names``: a layout of
    several targets, whose tags may repeat)."""
    manifests = [entry for image in images for entry in _entries(store, image, docker, full_names)]
    index = {"schemaVersion": 2, "mediaType": oci.INDEX, "manifests": manifests}
    seen: set[str] = set()
    for image in images:
        for d in blobs(store, image.descriptor):
            if d.digest not in seen:
                seen.add(d.digest)
                yield "blobs/sha256/" + d.digest.partition(":")[2], d
    # BuildKit's order: blobs, then the small files by name
    yield "index.json", json.dumps(index, separators=(",", ":")).encode()
    if docker:
        yield "manifest.json", json.dumps(_docker_manifest(store, images), separators=(",", ":")).encode()
    yield "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}, separators=(",", ":")).encode()


def _entries(store: ContentStore, image: Named, docker: bool, full_names: bool) -> list[dict[str, Any]]:
    """The index entries of one image, as BuildKit v0.32.2 writes them: one per name, annotated
    with the whole normalised name (``app:2`` → ``docker.io/library/app:2``), its tag as
    ``ref.name`` and the creation time (keys sorted, as Go writes a map); an unnamed image is
    ``latest`` in an OCI layout and has no name in a docker one. A single-platform manifest
    carries its platform."""
    base = image.descriptor.to_json()
    base.pop("annotations", None)
    base.pop("platform", None)
    if image.cache:
        return [{**base, "annotations": {"org.opencontainers.image.ref.name": n}} for n in image.names]
    platform = _platform(store, image.descriptor)
    out = []
    for name in image.names or ("",):
        annotations = dict(image.descriptor.annotations or {})
        if image.created:
            annotations["org.opencontainers.image.created"] = image.created
        if name:
            full = _normalized(name)
            annotations["io.containerd.image.name"] = full
            annotations["org.opencontainers.image.ref.name"] = name if full_names else _ref_name(full)
        elif not docker:
            annotations["org.opencontainers.image.ref.name"] = "latest"
        entry = {**base, "annotations": dict(sorted(annotations.items()))} if annotations else dict(base)
        if platform:
            entry["platform"] = platform
        out.append(entry)
    return out


def _platform(store: ContentStore, desc: oci.Descriptor) -> dict[str, str]:
    """A manifest's platform from its config, in Go's field order; an index has none."""
    if desc.media_type not in oci.MANIFEST_TYPES:
        return {}
    if desc.platform is not None:
        return desc.platform.to_json()
    config = json.loads(store.read(json.loads(store.read(desc.digest))["config"]["digest"]))
    out = {"architecture": config.get("architecture", ""), "os": config.get("os", "")}
    if config.get("os.version"):
        out["os.version"] = config["os.version"]
    if config.get("variant"):
        out["variant"] = config["variant"]
    return out


def _normalized(name: str) -> str:
    """Docker's whole form of a name (``app`` → ``docker.io/library/app:latest``); a name that is
    no reference stays as written."""
    from bake.registry.reference import InvalidReference, parse_reference

    try:
        return str(parse_reference(name))
    except InvalidReference:
        return name


def write_tar(store: ContentStore, images: Sequence[Named], dest: str, docker: bool = False,
              full_names: bool = False) -> None:
    if dest == "-":
        _tar(store, layout_files(store, images, docker, full_names), sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with disk_full_is_an_error(dest):
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        with atomic_file(dest) as f:
            _tar(store, layout_files(store, images, docker, full_names), f)


def write_dir(store: ContentStore, images: Sequence[Named], dest: str, docker: bool = False,
              full_names: bool = False) -> None:
    """An OCI layout directory; an existing layout at ``dest`` keeps its other images and blobs."""
    with disk_full_is_an_error(dest):
        os.makedirs(dest, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".bake-oci-", dir=os.path.dirname(os.path.abspath(dest)))
        try:
            _fill_dir(store, images, dest, staging, docker, full_names)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _fill_dir(store: ContentStore, images: Sequence[Named], dest: str, staging: str, docker: bool,
              full_names: bool) -> None:
    index_path = os.path.join(dest, "index.json")
    old = _old_manifests(index_path)
    for path, content in layout_files(store, images, docker, full_names):
        target = os.path.join(staging, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if path == "index.json" and isinstance(content, bytes):
            new = json.loads(content)
            names = {_ref(m) for m in new["manifests"]}
            new["manifests"] = [m for m in old if _ref(m) not in names] + new["manifests"]
            content = json.dumps(new, separators=(",", ":")).encode()
        if isinstance(content, bytes):
            with open(target, "wb") as f:
                f.write(content)
        elif not _whole(os.path.join(dest, path), content):
            with store.open(content.digest, content.size) as blob, open(target, "wb") as f:
                shutil.copyfileobj(blob, f, 1 << 20)
                blob.finish()
    for base, _, files in os.walk(staging):
        for name in sorted(files):
            src = os.path.join(base, name)
            out = os.path.join(dest, os.path.relpath(src, staging))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            os.replace(src, out)  # blobs first (sorted walk), index.json last-ish: both whole


def _old_manifests(index_path: str) -> list[dict[str, Any]]:
    """The entries of an existing layout's index (none if it has no readable one: it is rewritten)."""
    try:
        with open(index_path) as f:
            manifests = json.load(f).get("manifests")
    except (OSError, ValueError, AttributeError):
        return []
    return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []


def _ref(entry: dict[str, Any]) -> object:
    annotations = entry.get("annotations")
    return annotations.get("org.opencontainers.image.ref.name") if isinstance(annotations, dict) else None


def _whole(path: str, desc: oci.Descriptor) -> bool:
    """Whether a blob already in a destination layout has exactly the descriptor's bytes."""
    import hashlib

    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size != desc.size:
                return False
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return False
    return "sha256:" + h.hexdigest() == desc.digest


def created(when: float) -> str:
    """The ``org.opencontainers.image.created`` value: RFC 3339 in whole seconds, as Go formats it."""
    import datetime

    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref_name(name: str) -> str:
    """What OCI layouts name an image by: the tag (``docker.io/x/y:1`` → ``1``), as BuildKit writes it."""
    tail = name.partition("@")[0].rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else "latest"


def _docker_manifest(store: ContentStore, images: Sequence[Named]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for image in images:
        d = image.descriptor
        if d.media_type in oci.INDEX_TYPES:
            raise ExportError("type=docker holds one platform per image: use type=oci for a multi-platform index")
        body = json.loads(store.read(d.digest))
        out.append({
            "Config": "blobs/sha256/" + body["config"]["digest"].partition(":")[2],
            "RepoTags": list(dict.fromkeys(_docker_tag(_normalized(n)) for n in image.names)) or None,
            "Layers": ["blobs/sha256/" + layer["digest"].partition(":")[2] for layer in body["layers"]],
        })
    return out


def _docker_tag(name: str) -> str:
    """Docker's short form: ``docker.io/library/x:1`` → ``x:1``."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _tar(store: ContentStore, files: Iterator[tuple[str, bytes | oci.Descriptor]], out: BinaryIO) -> None:
    with go_tar(out) as tar:  # BuildKit's bytes for the same files
        dirs_done: set[str] = set()
        for path, content in files:
            parts = path.split("/")[:-1]
            for n in range(1, len(parts) + 1):
                d = "/".join(parts[:n])
                if d not in dirs_done:
                    dirs_done.add(d)
                    info = GoTarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = GoTarInfo(path)
            info.mode = 0o644 if path.endswith(".json") else 0o444  # BuildKit's modes
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                with store.open(content.digest, content.size) as reader:
                    info.size = reader.size
                    tar.addfile(info, reader)
                    reader.finish()
