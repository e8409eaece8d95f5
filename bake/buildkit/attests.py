"""What a solve asks BuildKit to attest: the ``attest:<type>`` frontend attributes buildx v0.36.1
sends (``build/opt.go``), so that a BuildKit builder attaches the same attestations to the same
outputs as under buildx. Recorded: tests/fixtures/buildkit/attest/remote.json.

- Each ``attest`` entry of a target, the first of each type, is sent as ``attest:<type>`` =
  ``type=<type>,<attributes sorted by key>`` (buildx's CSV: a field with ``,`` or ``"`` quoted);
  a disabled entry is not sent.
- Unless the target names a provenance entry (a disabled one too) or ``BUILDX_NO_DEFAULT_ATTESTATIONS``
  is true, buildx adds ``attest:provenance`` = ``mode=min,inline-only=true``: BuildKit then attaches
  a provenance attestation to pushed and stored images, and leaves it out of single-platform
  ``oci``/``docker`` tarballs and of ``local``/``tar`` outputs.
- Only where the node makes attestations: BuildKit v0.11 or newer (the ``exporter.image.attestations``
  capability) and a driver that can store an index — not the ``docker`` driver on an engine without
  the containerd image store (dockerd 20.10). There buildx sends nothing by default and refuses an
  explicit attestation; so does bake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bake.buildkit import BuilderError
from bake.errors import UsageError
from bake.model import AttestEntry

DEFAULT_PROVENANCE = "mode=min,inline-only=true"
NO_DEFAULT = "BUILDX_NO_DEFAULT_ATTESTATIONS"
SINCE = (0, 11)  # the first BuildKit with the exporter.image.attestations capability
_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
DOCKER_REFUSAL = ("Attestation is not supported for the docker driver.\nSwitch to a different driver, or turn on "
                  "the containerd image store, and try again.\nLearn more at https://docs.docker.com/go/attestations/")


def supported(driver: str, version: str) -> bool:
    """Whether a node makes attestations: ``version`` is what its Info reported ("" none: BuildKit
    before v0.10, which has no Info and no attestations)."""
    if driver == "docker":
        return False
    numbers = version.removeprefix("v").split("-")[0].split("+")[0].split(".")
    try:
        return tuple(int(n) for n in numbers[:2]) >= SINCE
    except ValueError:  # a development build's version: take it as current
        return bool(version)


def requested(target: str, entries: Sequence[AttestEntry] | None, env: Mapping[str, str],
              driver: str, version: str, builder: str = "") -> dict[str, str]:
    """The frontend attributes asking for ``target``'s attestations on a node of ``driver`` that
    reported ``version``; an explicit attestation such a node cannot make is refused, as buildx
    refuses it."""
    asked: dict[str, str | None] = {}
    for e in entries or ():
        if e.type not in asked:  # buildx keeps the first entry of a type
            asked[e.type] = None if e.disabled else _csv((("type", e.type), *sorted(e.attrs)))
    wanted = {k: v for k, v in asked.items() if v is not None}
    able = supported(driver, version)
    if wanted and not able:
        if driver == "docker":
            raise BuilderError(f"target {target}: attest: {DOCKER_REFUSAL}", builder)
        raise BuilderError(f"target {target}: attest: Attestations are not supported by the current BuildKit "
                                 f"daemon ({version or 'version not reported'}; BuildKit v0.11 or newer makes them)",
                                 builder)
    out = {f"attest:{k}": v for k, v in wanted.items()}
    if "provenance" not in asked and able:
        flag = env.get(NO_DEFAULT)
        if flag is not None and flag not in _TRUE + _FALSE:
            raise UsageError(f"invalid {NO_DEFAULT}: strconv.ParseBool: parsing {flag!r}: invalid syntax")
        if flag not in _TRUE:
            out["attest:provenance"] = DEFAULT_PROVENANCE
    return out


def per_platform(attrs: Mapping[str, str], output_types: Sequence[str]) -> dict[str, str]:
    """``attrs`` for one platform's solve of a target of several platforms. buildx solves all
    platforms at once, and BuildKit puts even an inline-only provenance into the index of a
    multi-platform ``oci`` tarball; bake solves each platform alone and joins the tarballs, so
    inline-only is dropped when the target has an ``oci`` output — unless a ``local``/``tar`` output of the same solve would then
    get a ``provenance.json`` that buildx's does not."""
    value = attrs.get("attest:provenance")
    if value is None or "oci" not in output_types or any(t in ("local", "tar") for t in output_types):
        return dict(attrs)
    kept = [(k, v) for k, _, v in (f.partition("=") for f in _fields(value)) if k != "inline-only"]
    return {**attrs, "attest:provenance": _csv(kept)}


def _csv(pairs: Sequence[tuple[str, str]]) -> str:
    """buildx's csvBuilder: ``k=v`` fields joined by commas, a field holding ``,`` or ``"`` quoted."""
    out = []
    for k, v in pairs:
        field = f"{k}={v}"
        if "," in field or '"' in field:
            field = '"' + field.replace('"', '""') + '"'
        out.append(field)
    return ",".join(out)


def _fields(value: str) -> list[str]:
    import csv

    return next(csv.reader([value])) if value else []
