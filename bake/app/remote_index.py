"""A pushed image of several platforms built on BuildKit nodes: each platform's solve (on whichever
node serves it) pushes its image by digest only; once every platform of the target is built, bake
pushes the index of them under the target's names — as buildx assembles a multi-node image.
Nothing is tagged when a platform failed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bake._record import replace
from bake.app.outputs import TargetResult, reported
from bake.buildkit.exporters import pushes
from bake.content import oci
from bake.errors import BakeError, UsageError
from bake.model import Plan
from bake.progress.events import Noted, Sink


async def push_indexes(plan: Plan, solved: Sequence[TargetResult], results: list[TargetResult],
                       sink: Sink) -> list[TargetResult]:
    """``results`` (one per target) with the index pushed for each multi-platform push that succeeded."""
    out = []
    for r in results:
        t = plan.targets[r.target]
        o = (t.output or (None,))[0]
        if r.error is not None or o is None or len(r.platforms) < 2 or not pushes(o.type, dict(o.attrs)):
            out.append(r)
            continue
        attrs = dict(o.attrs)
        names = tuple(n for n in (attrs.get("name") or "").split(",") if n) or tuple(t.tags or ())
        mine = [s for s in solved if s.target == r.target]
        try:
            with reported(sink, f"pushing index {', '.join(names)}", r.target):
                index = _index(mine, await _attested(mine, names))
                await _push(index, names)
        except BakeError as err:
            out.append(replace(r, error=err))
            continue
        sink(Noted(f"{r.target}: pushed {', '.join(names)} ({index.digest}, {len(mine)} platforms)", time.time()))
        meta = {"containerimage.digest": index.digest, "containerimage.descriptor": index.descriptor().to_json(),
                "image.name": ",".join(names)}
        # one platform's config digest describes no index (buildx's metadata of several platforms has none)
        kept = {k: v for k, v in (r.metadata or {}).items() if k != "containerimage.config.digest"}
        out.append(replace(r, metadata={**kept, **meta}))
    return out


def _pushed(p: TargetResult) -> oci.Descriptor:
    raw = (p.metadata or {}).get("containerimage.descriptor")
    if not isinstance(raw, dict):
        raise UsageError(f"target {p.target}: the daemon did not describe the image it pushed for {p.platforms[0]}")
    return oci.Descriptor.from_json(raw)


async def _attested(platforms: Sequence[TargetResult], names: Sequence[str]) -> dict[str, oci.Document]:
    """The index each attested platform pushed (its image and attestation manifests), by digest,
    read back from the registry: the daemon describes only the index it pushed."""
    from bake.registry.client import RegistryError, default_client
    from bake.registry.reference import parse_reference

    wanted = [d.digest for d in map(_pushed, platforms) if d.media_type in oci.INDEX_TYPES]
    if not wanted:
        return {}
    client = default_client()
    ref = parse_reference(names[0])
    try:
        return {digest: await client.manifest(ref, digest) for digest in wanted}
    except RegistryError as err:
        raise UsageError(f"reading back the index a platform pushed to {names[0]}: {err}") from None
    finally:
        await client.aclose()


def _index(platforms: Sequence[TargetResult], attested: dict[str, oci.Document]) -> oci.Document:
    """The index of each platform's pushed manifest (its descriptor from the exporter's response);
    a platform that pushed an index of its image and attestation (``attested``) gives both, and,
    as in BuildKit's index of several platforms, every image comes before every attestation."""
    images: list[oci.Descriptor] = []
    attestations: list[oci.Descriptor] = []
    for p in platforms:
        d = _pushed(p)
        if d.digest in attested:
            for m in attested[d.digest].body["manifests"]:
                one = oci.Descriptor.from_json(m)
                (attestations if _is_attestation(one) else images).append(one)
            continue
        images.append(replace(d, platform=d.platform or oci.Platform.parse(p.platforms[0]), annotations=()))
    docker = all(m.media_type == oci.DOCKER_MANIFEST for m in images) and not attestations
    return oci.index(images + attestations, kind=oci.DOCKER_LIST if docker else oci.INDEX)


def _is_attestation(d: oci.Descriptor) -> bool:
    return dict(d.annotations).get("vnd.docker.reference.type") == "attestation-manifest"


async def _push(index: oci.Document, names: Sequence[str]) -> None:
    from bake.registry.client import RegistryError, default_client
    from bake.registry.reference import parse_reference

    client = default_client()
    try:
        for name in names:
            ref = parse_reference(name)
            try:
                await client.push_manifest(ref, index, ref.tag or "latest")
            except RegistryError as err:
                raise UsageError(f"pushing the index to {name}: {err}") from None
    finally:
        await client.aclose()
