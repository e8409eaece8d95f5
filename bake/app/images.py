"""Image outputs of a built target: ``type=oci``, ``type=docker``, ``type=image`` (bake's image
store, ``push=true``) and ``type=registry``.

Each platform's result becomes an image (its snapshot chain as layers, the stage's config), a
target built for several platforms an OCI index; then every image output of the target is
written from the content store. Names come from the output's ``name=`` or the target's tags.

Blobs are verified as they leave the store. One found damaged is repaired (``ImageStore.repair``:
dropped, then rebuilt or fetched again) and the output written again from a freshly assembled
image, with a warning — never exported as it is. Writing an output fails as one ``ExportError``
(or ``NoSpaceError``) naming the output; nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from bake._record import record
from bake.content import oci
from bake.content.atomic import NoSpaceError
from bake.content.imageconfig import ImageConfig
from bake.content.jsonstate import is_descriptor, load_map, save_map
from bake.content.store import ContentStore, CorruptContent
from bake.errors import UsageError
from bake.exporter.image import align_history, config_document, manifest_document
from bake.exporter.local import ExportError
from bake.exporter.ocilayout import Named, write_dir, write_tar
from bake.model import ExportEntry, Target
from bake.worker.layers import Layers

IMAGE_OUTPUTS = ("oci", "docker", "image", "registry")


@record
class Built:
    """One platform of a target: its result snapshot (None: empty) and image config."""

    platform: str
    result: str | None
    config: ImageConfig


def image_outputs(t: Target) -> list[ExportEntry]:
    return [o for o in t.output or () if o.type in IMAGE_OUTPUTS]


class Publisher:
    """What a build's image outputs write, gathered over all targets and written at the end:
    ``multi-target=true`` layouts (one OCI layout or tarball holding several targets' images) and
    pushes. Several targets pushing one name make one index of all their platforms (buildx would
    let the last push win); the same platform twice under one name is an error."""

    def __init__(self, root: str, store: ContentStore,
                 repair: Callable[[CorruptContent], bool] | None = None) -> None:
        self.root = root
        self.store = store
        self.repair = repair  # drops a damaged blob and makes it again; whether the same bytes are back
        self.layouts: dict[tuple[str, str, bool], list[Named]] = {}
        self.pushes: dict[str, list[tuple[str, oci.Descriptor]]] = {}
        self.insecure: set[str] = set()  # registries an output marked registry.insecure=true

    def layout(self, kind: str, dest: str, tar: bool, image: Named) -> None:
        self.layouts.setdefault((kind, dest, tar), []).append(image)

    def push(self, target: str, name: str, top: oci.Descriptor, insecure: bool = False) -> None:
        self.pushes.setdefault(name, []).append((target, top))
        if insecure:
            from bake.registry.reference import parse_reference

            self.insecure.add(parse_reference(name).registry)

    def flush(self) -> list[str]:
        done: list[str] = []
        for (kind, dest, tar), named in self.layouts.items():
            what = f"type={kind},dest={dest}"
            restoring(self.repair, what, functools.partial(write_tar if tar else write_dir, self.store, named, dest,
                                                   docker=kind == "docker", full_names=True))
            done.append(f"{what} ({len(named)} images)")
        tops: dict[oci.Descriptor, list[str]] = {}
        for name, sources in self.pushes.items():
            top = sources[0][1] if len(sources) == 1 else self._merge(name, sources)
            tops.setdefault(top, []).append(name)
        if tops:
            names = ", ".join(n for ns in tops.values() for n in ns)
            restoring(self.repair, f"push of {names}",
                      lambda: push_all(self.store, list(tops.items()), self.insecure))
            done += [f"pushed {', '.join(names)}" for names in tops.values()]
        return done

    def _merge(self, name: str, sources: list[tuple[str, oci.Descriptor]]) -> oci.Descriptor:
        manifests: list[oci.Descriptor] = []
        owner: dict[str, str] = {}
        for target, top in sources:
            for m in self._platform_manifests(top):
                platform = str(m.platform)
                if platform in owner and owner[platform] != target:
                    raise UsageError(f"{name}: targets {owner[platform]} and {target} both push {platform}")
                if platform not in owner:
                    owner[platform] = target
                    manifests.append(m)
        index = oci.index(manifests)
        self.store.write(index.raw)
        return index.descriptor()

    def _platform_manifests(self, top: oci.Descriptor) -> list[oci.Descriptor]:
        body = json.loads(self.store.read(top.digest))
        if top.media_type in oci.INDEX_TYPES:
            return [oci.Descriptor.from_json(m) for m in body["manifests"]]
        config = json.loads(self.store.read(body["config"]["digest"]))
        platform = oci.Platform(config.get("os", "linux"), config.get("architecture", ""), config.get("variant", ""))
        return [oci.Descriptor(top.media_type, top.digest, top.size, platform)]


def export_images(publisher: Publisher, layers: Layers, t: Target, built: Sequence[Built],
                  env: Mapping[str, str], cwd: str, publish: bool = True,
                  inline: Callable[[str], dict[str, int]] | None = None) -> tuple[list[str], dict[str, object]]:
    """Write the target's image outputs (or hand them to ``publisher``); returns what was written
    and buildx's metadata keys. With ``publish`` false (``--publish=after-all`` after a failure)
    images are assembled but nothing is written or pushed."""
    written: list[str] = []
    metadata: dict[str, object] = {}
    made: dict[tuple[tuple[str, str], ...], oci.Descriptor] = {}
    created = time.time()  # one time for every output of the target: equal options, equal image
    for out in image_outputs(t):
        what = f"target {t.name}: output type={out.type}" + (f",dest={out.dest}" if out.dest else "")
        seen: set[str] = set()
        while True:
            try:
                with output_errors(what):
                    written += _export(publisher, layers, t, out, built, env, cwd, publish, inline, created, made,
                                       metadata)
                break
            except CorruptContent as err:  # repaired, then assembled and written again
                if err.digest in seen or publisher.repair is None:
                    raise ExportError(f"{what}: {err.message}") from err
                seen.add(err.digest)
                publisher.repair(err)
                made.clear()
    return written, metadata


def restoring(repair: Callable[[CorruptContent], bool] | None, what: str, write: Callable[[], object]) -> None:
    """``write`` an output whose images are already assembled; a damaged blob is made again with
    the same bytes (the images name it) and the output written again."""
    seen: set[str] = set()
    while True:
        try:
            with output_errors(what):
                write()
            return
        except CorruptContent as err:
            if err.digest in seen or repair is None or not repair(err):
                raise ExportError(f"{what}: {err.message}; it could not be made again") from err
            seen.add(err.digest)


@contextlib.contextmanager
def output_errors(what: str) -> Iterator[None]:
    """An output that cannot be written is one located error (``what`` names it), never an OSError."""
    try:
        yield
    except NoSpaceError as err:
        raise NoSpaceError(err.path, what) from err
    except OSError as err:
        path = _TEMP_SUFFIX.sub("", str(err.filename)) if err.filename else ""  # the temp file stands for its target
        if err.errno == errno.EISDIR:
            raise ExportError(f"{what}: {path or 'dest'} is a directory; this output writes a file there") from err
        if err.errno in (errno.EEXIST, errno.ENOTDIR) and path and not os.path.isdir(path):
            raise ExportError(f"{what}: {path} is a file, so nothing can be written below it") from err
        where = f" ({path})" if path else ""
        raise ExportError(f"{what}: {err.strerror or err}{where}") from err


_TEMP_SUFFIX = re.compile(r"\.\d+\.\d+\.\d+\.tmp$")


def _export(publisher: Publisher, layers: Layers, t: Target, out: ExportEntry, built: Sequence[Built],
            env: Mapping[str, str], cwd: str, publish: bool, inline: Callable[[str], dict[str, int]] | None,
            created: float, made: dict[tuple[tuple[str, str], ...], oci.Descriptor],
            metadata: dict[str, object]) -> list[str]:
    """One image output: assembled (once per shape of image) and written; what was written."""
    store = publisher.store
    written: list[str] = []
    attrs = dict(out.attrs)
    names = tuple(n for n in (attrs.get("name") or "").split(",") if n) or tuple(t.tags or ())
    if attrs.get("name-canonical") == "true":
        names = tuple(dict.fromkeys(n for name in names for n in (name, _canonical(name))))
    shape = tuple(sorted((k, v) for k, v in attrs.items()
                         if k.startswith(("compression", "force-", "annotation.", "oci-mediatypes", "rewrite-"))))
    if shape not in made:
        docker_types = attrs.get("oci-mediatypes", "false" if out.type == "docker" else "true") == "false"
        made[shape] = assemble(store, layers, t, built, attrs, env, created, docker_types, inline)
    top = made[shape]
    metadata.update(_metadata(store, top, names))
    if not publish:
        return written
    dest = out.dest if os.path.isabs(out.dest) or out.dest in ("", "-") else os.path.join(cwd, out.dest)
    if out.type in ("oci", "docker"):
        if not dest:
            hint = " (no Docker daemon is used: give dest= and `docker load -i` it)" if out.type == "docker" else ""
            raise ExportError(f"target {t.name}: type={out.type} needs dest={hint}")
        tar = attrs.get("tar", "true") != "false"
        if attrs.get("multi-target") == "true":
            publisher.layout(out.type, dest, tar, Named(top, names or (t.name,)))
            return written
        (write_tar if tar else write_dir)(store, [Named(top, names)], dest, docker=out.type == "docker")
        written.append(f"type={out.type},dest={out.dest}")
        return written
    if out.type == "image":
        _remember(publisher.root, names, top)
    if out.type == "registry" or attrs.get("push") == "true":
        if not names:
            raise UsageError(f"target {t.name}: pushing needs a name (tags = [...] or output name=)")
        for name in names:
            publisher.push(t.name, name, top, attrs.get("registry.insecure") == "true")
        written.append(f"pushing {', '.join(names)}")
    elif out.type == "image":
        written.append(f"type=image,name={','.join(names)}")
    return written


def _canonical(name: str) -> str:
    """``app:1`` → ``docker.io/library/app:1`` (name-canonical=true)."""
    from bake.registry.reference import parse_reference

    return str(parse_reference(name))


def _metadata(store: ContentStore, top: oci.Descriptor, names: Sequence[str]) -> dict[str, object]:
    """buildx's ``--metadata-file`` keys for an image."""
    out: dict[str, object] = {"containerimage.descriptor": top.to_json(), "containerimage.digest": top.digest}
    if top.media_type in oci.MANIFEST_TYPES:
        out["containerimage.config.digest"] = json.loads(store.read(top.digest))["config"]["digest"]
    if names:
        out["image.name"] = ",".join(names)
    return out


def assemble(store: ContentStore, layers: Layers, t: Target, built: Sequence[Built], attrs: Mapping[str, str],
             env: Mapping[str, str], now: float, docker: bool = False,
             inline: Callable[[str], dict[str, int]] | None = None) -> oci.Descriptor:
    """The target's image (one platform) or index (several), stored; its descriptor. ``docker``:
    Docker's media types instead of OCI's. ``inline`` (cache-to type=inline) maps a snapshot id to
    the cache keys whose results are in that snapshot's chain, each with the chain's length."""
    compression = attrs.get("compression", "gzip")
    level = int(attrs["compression-level"]) if attrs.get("compression-level") else None
    force = attrs.get("force-compression") == "true"
    epoch_text = env.get("SOURCE_DATE_EPOCH") or (t.args or {}).get("SOURCE_DATE_EPOCH") or ""
    epoch = int(epoch_text) if epoch_text.isdigit() else None
    created = float(epoch) if epoch is not None else now
    # As BuildKit: SOURCE_DATE_EPOCH dates the config and history; file times in the layers we make
    # are clamped to it only with rewrite-timestamp=true.
    layer_epoch = epoch if attrs.get("rewrite-timestamp") == "true" else None
    annotations = {k[len("annotation."):]: v for k, v in attrs.items() if k.startswith("annotation.")}
    labels = {k: v for k, v in (t.labels or {}).items() if v is not None}
    manifests = []
    for b in built:
        platform = oci.Platform.parse(b.platform)
        chain = list(reversed(layers.snapshots.chain(b.result))) if b.result is not None else []
        blobs = [layers.layer(s, compression, level, layer_epoch, force) for s in chain]
        cache = {k: range(n) for k, n in inline(b.result).items()} if inline and b.result else None
        config = config_document(align_history(b.config, len(blobs)), platform, [x.diff_id for x in blobs], created,
                                 labels, docker=docker, inline_cache=cache)
        store.write(config.raw)
        try:
            manifest = manifest_document(config, [x.descriptor for x in blobs], annotations, docker=docker)
        except ValueError as err:
            raise UsageError(f"target {t.name}: {err}") from None
        store.write(manifest.raw)
        manifests.append(manifest.descriptor(platform))
    if len(manifests) == 1:
        return oci.Descriptor(manifests[0].media_type, manifests[0].digest, manifests[0].size)
    index = oci.index(manifests, annotations or None, kind=oci.DOCKER_LIST if docker else oci.INDEX)
    store.write(index.raw)
    return index.descriptor()


def _remember(root: str, names: Sequence[str], top: oci.Descriptor) -> None:
    """bake's image store: name → descriptor in ``images.json`` (blobs stay in the content store)."""
    from bake.content.stateroot import StateRoot

    path = StateRoot(root).images
    known, _ = load_map(path, lambda _k, v: is_descriptor(v))
    from bake.registry.reference import parse_reference

    for name in names:
        known[str(parse_reference(name))] = top.to_json()  # by full name, as FROM lines resolve
    save_map(path, known)


def push_all(store: ContentStore, images: Sequence[tuple[oci.Descriptor, Sequence[str]]],
          insecure: set[str] | None = None) -> None:
    """Push every image through one client, one after another: a blob the first push uploaded is
    found (same repository) or mounted (another one) by the next, never uploaded twice."""
    import anyio

    from bake.exporter.push import push
    from bake.registry.client import default_client
    from bake.registry.config import HostSettings, RegistryConfig

    async def run() -> None:
        client = default_client()
        if insecure:  # registry.insecure=true: plain HTTP, or HTTPS without verification
            hosts = dict(client.config.hosts)
            for host in insecure:
                hosts[host] = HostSettings(client.config.host(host).mirrors, http=True, insecure=True)
            client.config = RegistryConfig(hosts)
        try:
            for top, names in images:
                await push(client, store, top, names)
        finally:
            await client.aclose()

    anyio.run(run)
