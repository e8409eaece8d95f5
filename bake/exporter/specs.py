"""Output and cache entries, parsed into typed specs and checked when the plan is made: a value an
exporter would only reject after the build (an unknown type, a missing ``dest=``, a compression
level out of range, ``push=maybe``) is refused before anything builds."""

from __future__ import annotations

from collections.abc import Mapping

from bake._record import record
from bake.errors import UsageError
from bake.exporter.attest import ProvenanceSpec, check_outputs, provenance_spec
from bake.model import CacheEntry, CacheSpec, ExportEntry, OutputSpec, Plan, build_platforms, local_platform

CACHE_TYPES = ("local", "registry", "inline")  # what bake exports and imports; others are reported and skipped
_UNSUPPORTED_CACHE = ("gha", "s3", "azblob")

_COMPRESSION_LEVELS = {"gzip": range(0, 10), "zstd": range(0, 23), "uncompressed": range(0, 1)}
_BOOLEANS = ("force-compression", "oci-mediatypes", "rewrite-timestamp", "push", "tar", "name-canonical",
             "registry.insecure", "ignore-error", "multi-target", "unpack")


@record
class TargetSpecs:
    """A target's outputs and cache entries, typed."""

    outputs: tuple[OutputSpec, ...] = ()
    cache_from: tuple[CacheSpec, ...] = ()
    cache_to: tuple[CacheSpec, ...] = ()
    provenance: ProvenanceSpec | None = None  # what image outputs attest (bake.exporter.attest)


def plan_specs(plan: Plan, env: Mapping[str, str] | None = None) -> dict[str, TargetSpecs]:
    """Every target's outputs and cache entries, parsed and checked (a ``UsageError`` names the
    first bad one). With ``env`` (the embedded worker's build), its ``attest`` too, buildx's
    default provenance included."""
    out = {}
    for name, t in plan.targets.items():
        outputs = tuple(output_spec(e, f"target {name}: output type={e.type}") for e in t.output or ())
        provenance = None
        if env is not None:
            provenance = provenance_spec(name, t.attest, env)
            check_outputs(name, provenance, outputs, len(build_platforms(t.platforms, local_platform())))
        out[name] = TargetSpecs(
            outputs,
            tuple(cache_spec(e, f"target {name}: cache-from type={e.type}", export=False) for e in t.cache_from or ()),
            tuple(cache_spec(e, f"target {name}: cache-to type={e.type}", export=True) for e in t.cache_to or ()),
            provenance)
        if len(t.platforms or ()) > 1 and any(o.type == "docker" for o in out[name].outputs):
            # a docker-save tarball (and so --load) holds one platform per image: BuildKit's words
            raise UsageError(f"target {name}: output type=docker: docker exporter does not currently support "
                             f"exporting manifest lists ({len(t.platforms or ())} platforms; use type=oci, or one "
                             f"platform: --set {name}.platform=…)")
    return out


def output_spec(entry: ExportEntry, where: str) -> OutputSpec:
    """One ``output`` entry, typed and checked by the exporter of its type."""
    from bake.exporter.table import EXPORTERS

    exporter = EXPORTERS.get(entry.type)
    if exporter is None:
        raise UsageError(f"{where.partition(':')[0]}: output type={entry.type} is not supported yet "
                         f"(supported: {', '.join(EXPORTERS)})")
    attrs = dict(entry.attrs)
    _check_attrs(where, attrs)
    level = attrs.get("compression-level")
    spec = OutputSpec(
        type=entry.type, dest=entry.dest,
        names=tuple(n for n in (attrs.get("name") or "").split(",") if n),
        push=_flag(attrs, "push"), tar=attrs.get("tar", "true") != "false", multi_target=_flag(attrs, "multi-target"),
        insecure=_flag(attrs, "registry.insecure"), name_canonical=_flag(attrs, "name-canonical"),
        compression=attrs.get("compression", "gzip"), compression_level=int(level) if level else None,
        force_compression=_flag(attrs, "force-compression"),
        oci_mediatypes=None if "oci-mediatypes" not in attrs else _flag(attrs, "oci-mediatypes"),
        rewrite_timestamp=_flag(attrs, "rewrite-timestamp"),
        annotations=tuple(sorted((k[len("annotation."):], v) for k, v in attrs.items() if k.startswith("annotation."))),
    )
    exporter.check(spec, where)
    return spec


def cache_spec(entry: CacheEntry, where: str, *, export: bool) -> CacheSpec:
    """One ``cache-from`` (``export`` false) or ``cache-to`` entry, typed and checked."""
    attrs = dict(entry.attrs)
    mode = attrs.get("mode", "min")
    if export:
        if mode not in ("min", "max"):
            raise UsageError(f"{where}: mode={mode} (expected min or max)")
        _check_attrs(where, attrs)
    supported = entry.type in CACHE_TYPES and (export or entry.type != "inline")
    spec = CacheSpec(entry.type, supported, mode, attrs.get("ref", ""), attrs.get("src", ""), attrs.get("dest", ""),
                     attrs.get("tag", ""))
    if supported:
        needed = {"registry": "ref", "local": "dest" if export else "src"}.get(entry.type)
        if needed and not attrs.get(needed):
            raise UsageError(f"{where.partition(':')[0]}: this cache entry needs {needed}=")
    return spec


def _flag(attrs: Mapping[str, str], key: str) -> bool:
    return attrs.get(key) == "true"


def _check_attrs(where: str, attrs: Mapping[str, str]) -> None:
    compression = attrs.get("compression", "gzip")
    if compression not in _COMPRESSION_LEVELS:
        raise UsageError(f"{where}: compression={compression} is not supported "
                         f"(supported: {', '.join(_COMPRESSION_LEVELS)})")
    level = attrs.get("compression-level")
    if level is not None and not (level.lstrip("-").isdigit() and int(level) in _COMPRESSION_LEVELS[compression]):
        levels = _COMPRESSION_LEVELS[compression]
        raise UsageError(f"{where}: compression-level={level} (expected a whole number from {levels.start} to "
                         f"{levels.stop - 1} for {compression})")
    for key in _BOOLEANS:
        if key in attrs and attrs[key] not in ("true", "false"):
            raise UsageError(f"{where}: {key}={attrs[key]} (expected true or false)")
