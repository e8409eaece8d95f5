"""Provenance attestations, as buildx v0.36 asks for them and BuildKit v0.32 writes them.

A target's ``attest`` entries become one ``ProvenanceSpec`` when the plan is made (buildx adds
``mode=min,inline-only=true`` by default unless the target names a provenance entry, even a
disabled one, or ``BUILDX_NO_DEFAULT_ATTESTATIONS`` is true). An image output then carries, per
platform, an attestation manifest beside the image in an index: an OCI artifact
(``application/vnd.docker.attestation.manifest.v1+json``) on the platform ``unknown/unknown``,
annotated with the image's digest, whose one layer is an in-toto statement
(``application/vnd.in-toto+json``) with an SLSA v1 provenance predicate filled with what bake
knows of the build (``BuildFacts``). Recorded facts: tests/fixtures/buildkit/attest/.

Which outputs carry it (BuildKit's rules): ``type=image``/``registry`` always; ``type=oci`` and
``type=docker`` only when the attestation is not inline-only or the target is an index anyway
(several platforms). What BuildKit refuses is refused before anything builds: attestations with
``oci-mediatypes=false``, an explicit provenance on ``type=docker`` (no manifest lists); what bake
cannot make yet (SBOMs need BuildKit's scanner image; ``provenance.json`` in ``type=local``/``tar``
outputs; SLSA v0.2) is a "not supported yet" error naming it.
"""

from __future__ import annotations

import datetime
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from bake._record import record
from bake.content import oci
from bake.errors import UsageError
from bake.model import AttestEntry, OutputSpec

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_V1 = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
IN_TOTO = "application/vnd.in-toto+json"
ARTIFACT_TYPE = "application/vnd.docker.attestation.manifest.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
SBOM_SCANNER = "docker.io/docker/buildkit-syft-scanner:stable-1"
NO_DEFAULT = "BUILDX_NO_DEFAULT_ATTESTATIONS"
_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@record
class ProvenanceSpec:
    """The provenance a target's image outputs carry. ``inline_only``: buildx's default, which
    ``type=oci``/``docker`` of one platform leave out."""

    mode: str = "min"  # min | max
    inline_only: bool = False


@record
class BuildFacts:
    """What the predicate says about one platform's build."""

    dockerfile: str  # configSource.path, as the target names it
    platform: str
    started: float
    finished: float
    args: tuple[tuple[str, str], ...] = ()  # build args, as given (max only)
    secrets: tuple[tuple[str, bool], ...] = ()  # (id, optional) of the secrets the build mounts (max only)
    ssh: tuple[tuple[str, bool], ...] = ()  # (id, optional) (max only)
    locals: tuple[str, ...] = ("context", "dockerfile")
    materials: tuple[tuple[str, str], ...] = ()  # (purl, manifest digest) of each base image
    builder_platform: str = ""


def provenance_spec(target: str, entries: Sequence[AttestEntry] | None,
                    env: Mapping[str, str]) -> ProvenanceSpec | None:
    """The target's provenance request (None: none), refusing what bake cannot attest yet."""
    where = f"target {target}: attest"
    prov: ProvenanceSpec | None = None
    named = False
    for e in entries or ():
        if e.type == "sbom":
            if not e.disabled:
                raise UsageError(f"{where} type=sbom is not supported yet: an SBOM is made by BuildKit's scanner "
                                 f"image {SBOM_SCANNER}, which bake does not run (remove it, or --sbom=false)")
            continue
        if e.type != "provenance":
            raise UsageError(f"{where} type={e.type} is not supported (supported: provenance, sbom)")
        named = True
        if e.disabled:
            continue
        attrs = dict(e.attrs)
        mode = {"full": "max"}.get(attrs.get("mode", "max"), attrs.get("mode", "max"))  # BuildKit's alias
        if mode not in ("min", "max"):
            raise UsageError(f"{where} type=provenance: mode={mode} (expected min or max)")
        version = attrs.get("version", "v1")
        if version != "v1":
            raise UsageError(f"{where} type=provenance: version={version} is not supported yet (supported: v1)")
        unknown = sorted(set(attrs) - {"mode", "version", "inline-only"})
        if unknown:
            raise UsageError(f"{where} type=provenance: {', '.join(unknown)} is not supported yet")
        prov = ProvenanceSpec(mode, attrs.get("inline-only") in _TRUE)
    if named:
        return prov
    flag = env.get(NO_DEFAULT)
    if flag is not None and flag not in _TRUE + _FALSE:
        raise UsageError(f"invalid {NO_DEFAULT}: strconv.ParseBool: parsing {flag!r}: invalid syntax")
    return None if flag in _TRUE else ProvenanceSpec("min", inline_only=True)


def carried(prov: ProvenanceSpec | None, output_type: str, platforms: int) -> bool:
    """Whether an output of ``output_type`` carries the provenance (BuildKit's exporter rules)."""
    if prov is None or output_type not in ("image", "registry", "oci", "docker"):
        return False
    return output_type in ("image", "registry") or not prov.inline_only or platforms > 1


def check_outputs(target: str, prov: ProvenanceSpec | None, outputs: Sequence[OutputSpec], platforms: int) -> None:
    """Refuse, before anything builds, the outputs BuildKit (or bake) would fail on."""
    if prov is None:
        return
    for o in outputs:
        where = f"target {target}: output type={o.type}"
        if o.type in ("local", "tar") and not prov.inline_only:
            raise UsageError(f"{where}: attest type=provenance is not supported yet for files outputs "
                             "(BuildKit writes provenance.json beside the files)")
        if not carried(prov, o.type, platforms):
            continue
        if o.type == "docker":
            raise UsageError(f"{where}: docker exporter does not support exporting manifest lists, use the oci "
                             "exporter instead (the provenance attestation needs an index)")
        if o.oci_mediatypes is False:
            raise UsageError(f'{where}: cannot export attestations with "oci-mediatypes=false" '
                             "(or disable them: --provenance=false)")


def statement(facts: BuildFacts, mode: str, names: Sequence[str], image: oci.Descriptor) -> dict[str, Any]:
    """The in-toto statement of one platform's image, its predicate as BuildKit's SLSA v1."""
    platform = oci.Platform.parse(facts.platform)
    digest = {"sha256": image.digest.partition(":")[2]}
    request: dict[str, Any] = {"frontend": "dockerfile.v0"}
    root_request: dict[str, Any] = {}
    if mode == "max":
        if facts.args:
            request["args"] = {f"build-arg:{k}": v for k, v in sorted(facts.args)}
            root_request["args"] = dict(request["args"])
        if facts.secrets:
            request["secrets"] = [_optional({"id": i}, o) for i, o in facts.secrets]
        if facts.ssh:
            request["ssh"] = [_optional({"id": i}, o) for i, o in facts.ssh]
    request["locals"] = [{"name": n} for n in facts.locals]
    request["root"] = {"configSource": {"path": facts.dockerfile}, "request": root_request}
    request["compatibilityVersion"] = 30
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "resolvedDependencies": [{"uri": uri, "digest": {"sha256": d.partition(":")[2]}}
                                     for uri, d in facts.materials],
            "externalParameters": {"configSource": {"path": facts.dockerfile}, "request": request},
            "internalParameters": {"builderPlatform": facts.builder_platform or facts.platform,
                                   "dockerfileVersion": "1.26.0"},
        },
        "runDetails": {
            "builder": {"id": ""},
            "metadata": {
                "invocationId": _identity(),
                "startedOn": _rfc3339(facts.started),
                "finishedOn": _rfc3339(facts.finished),
                "buildkit_metadata": {},
                "buildkit_completeness": {"request": mode == "max", "resolvedDependencies": False},
            },
        },
    }
    if not facts.materials:
        del predicate["buildDefinition"]["resolvedDependencies"]  # type: ignore[attr-defined]
    return {"_type": STATEMENT_TYPE, "predicateType": PREDICATE_V1,
            "subject": [{"name": image_purl(n, platform), "digest": digest} for n in names],
            "predicate": predicate}


def attestation_manifest(stmt_raw: bytes, image: oci.Descriptor) -> tuple[oci.Document, bytes]:
    """The attestation manifest of ``image`` around one statement's bytes, and the empty config
    blob it names (both to be stored with the statement)."""
    import hashlib

    empty = b"{}"
    config = {"mediaType": EMPTY_CONFIG, "digest": "sha256:" + hashlib.sha256(empty).hexdigest(), "size": 2,
              "data": "e30="}
    layer = {"mediaType": IN_TOTO, "digest": "sha256:" + hashlib.sha256(stmt_raw).hexdigest(),
             "size": len(stmt_raw), "annotations": {"in-toto.io/predicate-type": PREDICATE_V1}}
    body = {"schemaVersion": 2, "mediaType": oci.MANIFEST, "artifactType": ARTIFACT_TYPE, "config": config,
            "layers": [layer],
            "subject": {"mediaType": image.media_type, "digest": image.digest, "size": image.size}}
    return oci.Document(oci.MANIFEST, body, oci.encode(body, indent=True)), empty


def index_entry(manifest: oci.Document, image: oci.Descriptor) -> oci.Descriptor:
    """The attestation manifest as the index lists it: platform unknown/unknown, pointing at the image."""
    return manifest.descriptor(oci.Platform("unknown", "unknown"),
                               ((REFERENCE_DIGEST, image.digest), (REFERENCE_TYPE, "attestation-manifest")))


def is_attestation(d: oci.Descriptor) -> bool:
    return dict(d.annotations).get(REFERENCE_TYPE) == "attestation-manifest"


def image_purl(ref: str, platform: oci.Platform | None) -> str:
    """A package URL of an image reference, as BuildKit's ``purl.RefToPURL`` writes it
    (``pkg:docker/127.0.0.1%3A5000/app@1?platform=linux%2Famd64``)."""
    from bake.registry.reference import parse_reference

    r = parse_reference(ref)
    full = r.repository if r.registry in ("docker.io", "index.docker.io") else f"{r.registry}/{r.repository}"
    if full.startswith("library/") and full.count("/") == 1:
        full = full[len("library/"):]
    ns, _, name = full.rpartition("/")
    out = "pkg:docker/" + "/".join(urllib.parse.quote(s, safe="") for s in ns.split("/") if s)
    out += ("/" if ns else "") + urllib.parse.quote_plus(name)
    quals = []
    if r.digest:
        quals.append(("digest", r.digest))
    else:
        out += "@" + urllib.parse.quote(r.tag or "latest", safe="")
    if platform is not None:
        quals.append(("platform", str(platform)))
    if quals:
        out += "?" + "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in sorted(quals))
    return out


def _optional(d: dict[str, Any], optional: bool) -> dict[str, Any]:
    if optional:
        d["optional"] = True
    return d


def _rfc3339(t: float) -> str:
    """Go's RFC3339Nano: fractional seconds without trailing zeros."""
    text = datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def _identity() -> str:
    """A random 25-character base-36 id, as BuildKit's ``identity.NewID`` makes invocation ids."""
    n = secrets.randbits(128)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(25, "0")[:25]
