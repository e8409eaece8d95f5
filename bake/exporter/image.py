"""An image as BuildKit writes it: the OCI image config (the stage's config, rootfs diff IDs, one
history entry per instruction with ``empty_layer`` where no layer was made, ``created`` from
``SOURCE_DATE_EPOCH`` or now) and the manifest referencing the config and the layer blobs.
Pure functions over records; the bytes are canonical, so equal inputs give equal digests.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from bake.content import oci
from bake.content.imageconfig import History, ImageConfig

BUILDKIT_COMMENT = "buildkit.dockerfile.v0"


def timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def config_document(config: ImageConfig, platform: oci.Platform, diff_ids: Sequence[str], created: float,
                    labels: Mapping[str, str] | None = None,
                    docker: bool = False, inline_cache: Mapping[str, Sequence[int]] | None = None) -> oci.Document:
    """The image config. ``labels`` (the target's) are added over the Dockerfile's; the base image's
    history entries keep their own timestamps, this build's get ``created``."""
    when = timestamp(created)
    # Keys in the order Go writes the config struct (OCI ImageConfig, then Docker's additions) and
    # map keys sorted, as BuildKit's JSON has them: the same config is the same bytes, the same digest.
    c: dict[str, Any] = {}
    if config.user:
        c["User"] = config.user
    if config.exposed_ports:
        c["ExposedPorts"] = {p: {} for p in sorted(config.exposed_ports)}
    c["Env"] = list(config.env) or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    if config.entrypoint:  # Go's omitempty: an empty list (CMD []) is not written
        c["Entrypoint"] = list(config.entrypoint)
    if config.cmd:
        c["Cmd"] = list(config.cmd)
    if config.volumes:
        c["Volumes"] = {v: {} for v in sorted(config.volumes)}
    if config.workdir:
        c["WorkingDir"] = config.workdir
    all_labels = {**dict(config.labels), **dict(labels or {})}
    if all_labels:
        c["Labels"] = dict(sorted(all_labels.items()))
    if config.stop_signal:
        c["StopSignal"] = config.stop_signal
    if config.args_escaped:
        c["ArgsEscaped"] = True
    if config.healthcheck is not None:
        c["Healthcheck"] = {k: list(v) if isinstance(v, tuple) else v for k, v in config.healthcheck}
    if config.onbuild:
        c["OnBuild"] = list(config.onbuild)
    if config.shell:
        c["Shell"] = list(config.shell)
    history: list[dict[str, Any]] = []
    for h in config.history:
        entry: dict[str, Any] = {}
        stamp = when if h.created is None else h.created  # a base image's entries keep their own
        if stamp:
            entry["created"] = stamp
        if h.author:
            entry["author"] = h.author
        if h.created_by:
            entry["created_by"] = h.created_by
        if h.comment:
            entry["comment"] = h.comment
        if h.empty_layer:
            entry["empty_layer"] = True
        history.append(entry)
    body: dict[str, Any] = {"architecture": platform.architecture, "os": platform.os}
    if config.author:
        body["author"] = config.author
    if platform.variant:
        body["variant"] = platform.variant
    rootfs = {"type": "layers", "diff_ids": list(diff_ids) or None}  # no layers: Go's nil slice, null
    body.update({"created": when, "config": c, "rootfs": rootfs,
                 "history": history})
    if inline_cache:  # cache-to type=inline: which cache keys this image's layers rebuild (prefixes)
        body[oci.INLINE_CACHE] = {"keys": {k: list(v) for k, v in sorted(inline_cache.items())}}
    body = dict(sorted(body.items()))  # BuildKit writes the top level in key order (a Go map)
    return oci.Document(oci.DOCKER_CONFIG if docker else oci.CONFIG, body, oci.encode(body))


_TO_DOCKER = {oci.LAYER_GZIP: oci.DOCKER_LAYER_GZIP, oci.LAYER_TAR: oci.DOCKER_LAYER_TAR}
_TO_OCI = {v: k for k, v in _TO_DOCKER.items()}


def manifest_document(config: oci.Document, layers: Sequence[oci.Descriptor],
                      annotations: Mapping[str, str] | None = None, docker: bool = False) -> oci.Document:
    """The image manifest, with every layer typed for it (the bytes of a blob do not change with its
    media type, so a pulled Docker layer is an OCI layer too); ``docker``: Docker's schema 2 types
    (``oci-mediatypes=false``), which have no zstd layer."""
    table = _TO_DOCKER if docker else _TO_OCI
    typed = []
    for layer in layers:
        kind = table.get(layer.media_type, layer.media_type)
        if docker and kind not in _TO_DOCKER.values():
            raise ValueError(f"{layer.media_type} layers need OCI media types (oci-mediatypes=true)")
        # a layer's annotations (buildkit/rewritten-timestamp) are kept where the media types carry them
        typed.append(oci.Descriptor(kind, layer.digest, layer.size, annotations=() if docker else layer.annotations))
    made = (oci.manifest(config.descriptor(), typed, kind=oci.DOCKER_MANIFEST) if docker
            else oci.manifest(config.descriptor(), typed, dict(annotations) if annotations else None))
    # BuildKit writes manifests indented (Go's MarshalIndent): the same manifest, the same bytes
    return oci.Document(made.media_type, made.body, oci.encode(made.body, indent=True))


def align_history(config: ImageConfig, layer_count: int) -> ImageConfig:
    """History with exactly ``layer_count`` non-empty entries, as BuildKit's exporter makes it:
    entries past the last layer become empty; layers no entry stands for (a base directory, a base
    image without history) get entries added at the end, named after the step that made the layer
    at that position (``buildkit.exporter.image.v0``)."""
    from bake._record import replace

    history = list(config.history)
    non_empty = sum(1 for h in history if not h.empty_layer)
    if non_empty > layer_count:
        fixed, seen = [], 0
        for h in history:
            if not h.empty_layer:
                seen += 1
                if seen > layer_count:
                    h = replace(h, empty_layer=True)
            fixed.append(h)
        history = fixed
    elif non_empty < layer_count:
        # BuildKit names the layers from the bottom and adds entries for those past the count of
        # entries, so the names are of the top layers, whichever layers lacked an entry.
        names = [*config.unrecorded, *(h.step for h in history if not h.empty_layer)]
        history += [History(names[i] if i < len(names) else "", False, "buildkit.exporter.image.v0")
                    for i in range(non_empty, layer_count)]
    return replace(config, history=tuple(history))
