"""Image outputs of a built target: ``type=oci``, ``type=docker`` (layouts, as tarballs or
directories), ``type=image`` (bake's image store, ``push=true``) and ``type=registry``.

Each platform's result becomes an image (its snapshot chain as layers, the stage's config), a
target built for several platforms an OCI index — assembled once per shape of image
(``TargetImages``), whatever number of outputs ask for it. Names come from the output's ``name=``
or the target's tags. Shared layouts (``multi-target=true``) and pushes are gathered by the
``Publisher`` and written once every target is assembled.

Blobs are verified as they leave the store. One found damaged is repaired (dropped, then rebuilt
or fetched again) and the output written again from a freshly assembled image, never exported as
it is.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from bake._record import record
from bake.content import oci
from bake.content.imageconfig import ImageConfig
from bake.content.jsonstate import is_descriptor, load_map, save_map
from bake.content.store import ContentStore, CorruptContent
from bake.errors import UsageError
from bake.exporter.errors import ExportError, Repair, output_errors, restoring
from bake.exporter.job import ExportJob
from bake.model import OutputSpec

if TYPE_CHECKING:
    from bake.exporter.attest import BuildFacts, ProvenanceSpec
    from bake.exporter.ocilayout import Named
    from bake.exporter.push import Pusher

Inline = Callable[[str], dict[str, int]]  # cache-to type=inline: snapshot id → {cache key: chain length}


@record
class Built:
    """One platform of a target: its result snapshot (None: empty) and image config."""

    platform: str
    result: str | None
    config: ImageConfig


class LayerBlob(Protocol):
    @property
    def descriptor(self) -> oci.Descriptor: ...

    @property
    def diff_id(self) -> str: ...


class ImageLayers(Protocol):
    """Where an image's layers come from (the worker's layer store)."""

    def chain(self, result: str) -> Sequence[str]:
        """The snapshots of ``result``'s chain, base first."""

    def layer(self, snapshot: str, compression: str, level: int | None, epoch: int | None,
              force: bool) -> LayerBlob:
        """The blob of one snapshot's own changes, stored."""


def assemble(store: ContentStore, layers: ImageLayers, built: Sequence[Built], spec: OutputSpec, *,
             created: float, epoch: int | None = None, labels: Mapping[str, str] | None = None,
             inline: Inline | None = None, where: str = "",
             provenance: tuple[str, Sequence[BuildFacts], Sequence[str]] | None = None) -> oci.Descriptor:
    """The target's image (one platform) or index (several) as ``spec`` shapes it, stored; its
    descriptor. ``epoch`` (SOURCE_DATE_EPOCH) dates the config and history instead of ``created``;
    ``inline`` (cache-to type=inline) maps a snapshot id to the cache keys whose results are in
    that snapshot's chain, each with the chain's length. ``provenance`` (mode, each platform's
    facts, the image names) adds an attestation manifest per platform, in an index."""
    from bake.exporter.image import align_history, config_document, manifest_document

    docker = _docker_types(spec)
    when = float(epoch) if epoch is not None else created
    # As BuildKit: SOURCE_DATE_EPOCH dates the config and history; file times in the layers we make
    # are clamped to it only with rewrite-timestamp=true.
    layer_epoch = epoch if spec.rewrite_timestamp else None
    annotations = dict(spec.annotations)
    manifests = []
    for b in built:
        platform = oci.Platform.parse(b.platform)
        chain = list(layers.chain(b.result)) if b.result is not None else []
        blobs = [layers.layer(s, spec.compression, spec.compression_level, layer_epoch, spec.force_compression)
                 for s in chain]
        cache = {k: range(n) for k, n in inline(b.result).items()} if inline and b.result else None
        config = config_document(align_history(b.config, len(blobs)), platform, [x.diff_id for x in blobs], when,
                                 labels, docker=docker, inline_cache=cache)
        store.write(config.raw)
        try:
            manifest = manifest_document(config, [x.descriptor for x in blobs], annotations, docker=docker)
        except ValueError as err:
            raise UsageError(f"{where}: {err}" if where else str(err)) from None
        store.write(manifest.raw)
        manifests.append(manifest.descriptor(platform))
    if provenance is not None:
        manifests += _attestations(store, manifests, *provenance)
    elif len(manifests) == 1:
        return oci.Descriptor(manifests[0].media_type, manifests[0].digest, manifests[0].size)
    index = oci.index(manifests, annotations or None, kind=oci.DOCKER_LIST if docker else oci.INDEX)
    store.write(index.raw)
    return index.descriptor()


def _attestations(store: ContentStore, images: Sequence[oci.Descriptor], mode: str, facts: Sequence[BuildFacts],
                  names: Sequence[str]) -> list[oci.Descriptor]:
    from bake.exporter.attest import attestation_manifest, index_entry, statement

    out = []
    for image, f in zip(images, facts, strict=True):
        raw = oci.encode(statement(f, mode, names, image))
        manifest, empty = attestation_manifest(raw, image)
        for blob in (raw, empty, manifest.raw):
            store.write(blob)
        out.append(index_entry(manifest, image))
    return out


def _docker_types(spec: OutputSpec) -> bool:
    # BuildKit v0.32.2 (compatibility version 031) makes OCI manifests for every exporter, type=docker
    # included (recorded: tests/fixtures/buildkit/layout-index.json); docker's only when asked
    return spec.oci_mediatypes is False


class TargetImages:
    """A built target's images, each shape (compression, media types, annotations, timestamps)
    assembled once for all the outputs asking for it; ``forget`` after a repair."""

    def __init__(self, target: str, store: ContentStore, layers: ImageLayers, built: Sequence[Built], *,
                 created: float, epoch: int | None = None, labels: Mapping[str, str] | None = None,
                 inline: Inline | None = None, provenance: ProvenanceSpec | None = None,
                 facts: Sequence[BuildFacts] = ()) -> None:
        self.target = target
        self.store = store
        self.layers = layers
        self.built = list(built)
        self.created = created  # one time for every output of the target: equal options, equal image
        self.epoch = epoch
        self.labels = labels
        self.inline = inline
        self.provenance = provenance  # None: no attestations (bake.exporter.attest)
        self.facts = list(facts)  # one per built platform, as ``built``
        self._made: dict[tuple[object, ...], oci.Descriptor] = {}

    def image(self, spec: OutputSpec, names: Sequence[str] = ()) -> oci.Descriptor:
        """The image ``spec`` shapes; ``names`` are the attestation's subjects (when it carries one)."""
        from bake.exporter.attest import carried

        attest = None
        if carried(self.provenance, spec.type, len(self.built)) and self.provenance and self.facts:
            attest = (self.provenance.mode, tuple(self.facts), tuple(names))
        shape = (spec.compression, spec.compression_level, spec.force_compression, _docker_types(spec),
                 spec.rewrite_timestamp, spec.annotations, attest)
        if shape not in self._made:
            self._made[shape] = assemble(self.store, self.layers, self.built, spec, created=self.created,
                                         epoch=self.epoch, labels=self.labels, inline=self.inline,
                                         where=f"target {self.target}", provenance=attest)
        return self._made[shape]

    def forget(self) -> None:
        self._made.clear()


class Publisher:
    """What a build's image outputs write, gathered over all targets and written at the end:
    ``multi-target=true`` layouts (one OCI layout or tarball holding several targets' images) and
    pushes. Several targets pushing one name make one index of all their platforms (buildx would
    let the last push win); the same platform twice under one name is an error."""

    def __init__(self, root: str, store: ContentStore, repair: Repair | None = None,
                 pusher: Pusher | None = None) -> None:
        self.root = root
        self.store = store
        self.repair = repair
        self.pusher = pusher
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
        from bake.exporter.ocilayout import write_dir, write_tar

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
            pusher = self.pusher
            if pusher is None:
                raise ExportError(f"push of {names}: this command has no registry client")
            restoring(self.repair, f"push of {names}", lambda: pusher(list(tops.items()), self.insecure))
            done += [f"pushed {', '.join(names)}" for names in tops.values()]
        return done

    def _merge(self, name: str, sources: list[tuple[str, oci.Descriptor]]) -> oci.Descriptor:
        manifests: list[oci.Descriptor] = []
        owner: dict[str, str] = {}
        attestations: list[oci.Descriptor] = []
        from bake.exporter.attest import is_attestation

        for target, top in sources:
            for m in self._platform_manifests(top):
                if is_attestation(m):  # each names its own image: never a clash
                    attestations.append(m)
                    continue
                platform = str(m.platform)
                if platform in owner and owner[platform] != target:
                    raise UsageError(f"{name}: targets {owner[platform]} and {target} both push {platform}")
                if platform not in owner:
                    owner[platform] = target
                    manifests.append(m)
        index = oci.index(manifests + attestations)  # images first, as BuildKit orders an index
        self.store.write(index.raw)
        return index.descriptor()

    def _platform_manifests(self, top: oci.Descriptor) -> list[oci.Descriptor]:
        body = json.loads(self.store.read(top.digest))
        if top.media_type in oci.INDEX_TYPES:
            return [oci.Descriptor.from_json(m) for m in body["manifests"]]
        config = json.loads(self.store.read(body["config"]["digest"]))
        platform = oci.Platform(config.get("os", "linux"), config.get("architecture", ""), config.get("variant", ""))
        return [oci.Descriptor(top.media_type, top.digest, top.size, platform)]


class ImageExporter:
    """``type=oci``/``type=docker`` (a layout), ``type=image`` (bake's image store, and a push with
    ``push=true``), ``type=registry`` (a push)."""

    kind: Literal["image"] = "image"

    def __init__(self, type: str) -> None:
        self.type = type

    def check(self, spec: OutputSpec, where: str) -> None:
        if self.type == "oci" and not spec.dest:
            raise UsageError(f"{where} needs dest=")
        if self.type == "docker" and not spec.dest:
            raise UsageError(f"{where.partition(':')[0]}: loading into a Docker daemon (--load, type=docker "
                             "without dest=) is not supported yet; write a docker-load tarball with "
                             "type=docker,dest=image.tar")

    def describe(self, spec: OutputSpec) -> str:
        """BuildKit's words, and where it goes."""
        if self.type in ("oci", "docker"):
            kind = "tarball" if spec.tar else "layout directory"
            return f"{spec.type} image format {kind} {spec.dest}" if spec.dest else f"{spec.type} image format"
        pushing = " (push)" if self.type == "registry" or spec.push else ""
        return f"image {','.join(spec.names)}{pushing}" if spec.names else f"image{pushing}"

    def export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        """Written from the target's image; a damaged blob is repaired, the image assembled and
        the output written again."""
        assert job.images is not None and job.publisher is not None, "an image output needs the target's images"
        what = f"target {job.target}: output type={spec.type}" + (f",dest={spec.dest}" if spec.dest else "")
        seen: set[str] = set()
        while True:
            try:
                with output_errors(what):
                    return self._export(spec, job)
            except CorruptContent as err:
                if err.digest in seen or job.publisher.repair is None:
                    raise ExportError(f"{what}: {err.message}") from err
                seen.add(err.digest)
                job.publisher.repair(err)
                job.images.forget()

    def _export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        from bake.exporter.ocilayout import Named, created, write_dir, write_tar

        assert job.images is not None and job.publisher is not None
        store, publisher = job.images.store, job.publisher
        names = spec.names or job.tags
        if spec.name_canonical:
            names = tuple(dict.fromkeys(n for name in names for n in (name, _canonical(name))))
        top = job.images.image(spec, names)
        job.metadata.update(_metadata(store, top, names))
        if not job.publish:
            return []
        if self.type in ("oci", "docker"):
            dest = job.path(spec.dest)
            if not dest:
                raise ExportError(f"target {job.target}: type={spec.type} needs dest=")
            when = created(job.images.epoch if job.images.epoch is not None else job.images.created)
            if spec.multi_target:
                publisher.layout(spec.type, dest, spec.tar, Named(top, names or (job.target,), when))
                return []
            (write_tar if spec.tar else write_dir)(store, [Named(top, names, when)], dest, docker=self.type == "docker")
            return [f"type={spec.type},dest={spec.dest}"]
        if self.type == "image":
            remember(publisher.root, names, top)
        if self.type == "registry" or spec.push:
            if not names:
                raise UsageError(f"target {job.target}: pushing needs a name (tags = [...] or output name=)")
            for name in names:
                publisher.push(job.target, name, top, spec.insecure)
            return [f"pushing {', '.join(names)}"]
        return [f"type=image,name={','.join(names)}"]


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


def remember(root: str, names: Sequence[str], top: oci.Descriptor) -> None:
    """bake's image store: name → descriptor in ``images.json`` (blobs stay in the content store)."""
    from bake.content.stateroot import StateRoot
    from bake.registry.reference import parse_reference

    path = StateRoot(root).images
    known, _ = load_map(path, lambda _k, v: is_descriptor(v))
    for name in names:
        known[str(parse_reference(name))] = top.to_json()  # by full name, as FROM lines resolve
    save_map(path, known)
