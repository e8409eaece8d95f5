"""Evaluated target attributes → ``model.Target``, with buildx's attribute types and messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bake.errors import DefinitionError, SourceRange
from bake.hcl.bakefile.buildflags import (
    parse_attest,
    parse_cache,
    parse_export,
    parse_policy,
    parse_secret,
    parse_ssh,
)
from bake.hcl.engine.strconv import FlagError
from bake.hcl.engine.values import ConversionError, to_bool, to_string
from bake.model import TARGET_FIELDS, Target

# HCL attribute name → decoder kind. Unknown attributes are ignored, as in buildx.
ATTRIBUTES: dict[str, str] = {
    "description": "string", "inherits": "list", "annotations": "list", "attest": "entries",
    "context": "string", "contexts": "map", "dockerfile": "string", "dockerfile-inline": "string",
    "args": "nullmap", "labels": "nullmap", "tags": "list", "cache-from": "entries", "cache-to": "entries",
    "target": "string", "secret": "entries", "ssh": "entries", "platforms": "list", "output": "entries",
    "pull": "bool", "no-cache": "bool", "network": "string", "no-cache-filter": "list", "shm-size": "string",
    "ulimits": "list", "resources": "resources", "call": "string", "entitlements": "list",
    "extra-hosts": "map", "policy": "entries",
}
assert {k.replace("-", "_") for k in ATTRIBUTES} == set(TARGET_FIELDS)

RESOURCE_KEYS = ("memory", "memory-swap", "cpu-shares", "cpu-period", "cpu-quota", "cpuset-cpus", "cpuset-mems")


def _type_error(attr: str, want: str, rng: SourceRange) -> DefinitionError:
    return DefinitionError("Incorrect attribute value type", f'Inappropriate value for attribute "{attr}": {want} required.', rng)


def _string(attr: str, v: object, rng: SourceRange) -> str | None:
    if v is None:
        return None
    try:
        return to_string(v)
    except ConversionError:
        raise _type_error(attr, "string", rng) from None


def _list(attr: str, v: object, rng: SourceRange) -> tuple[str, ...] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _type_error(attr, "list of string", rng)
    out = []
    for x in v:
        if x is None:
            continue
        try:
            out.append(to_string(x))
        except ConversionError:
            raise _type_error(attr, "list of string", rng) from None
    return tuple(out)


def _map(attr: str, v: object, rng: SourceRange, allow_null: bool) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _type_error(attr, "map of string", rng)
    out: dict[str, Any] = {}
    for k, x in v.items():
        if x is None:
            if allow_null:
                out[k] = None
            continue
        try:
            out[k] = to_string(x)
        except ConversionError:
            raise _type_error(attr, "map of string", rng) from None
    return out


def _flag_value(attr: str, x: object, rng: SourceRange) -> str | dict[str, Any]:
    if isinstance(x, dict):
        out: dict[str, Any] = {}
        for k, y in x.items():
            if y is None:
                continue
            if isinstance(y, list) and attr in ("ssh", "policy"):
                out[k] = [to_string(z) for z in y]
            elif isinstance(y, bool) and attr == "attest":
                out[k] = y
            else:
                try:
                    out[k] = to_string(y)
                except ConversionError:
                    raise _type_error(attr, "list of string or object", rng) from None
        return out
    try:
        return to_string(x)
    except ConversionError:
        raise _type_error(attr, "list of string or object", rng) from None


def decode_entries(attr: str, items: list[str | dict[str, Any]]) -> tuple[Any, ...]:
    """Parse flag-form entries; empty strings are dropped, as buildx does."""
    parsers: dict[str, Callable[[Any], Any]] = {
        "output": parse_export, "attest": parse_attest, "secret": parse_secret, "ssh": parse_ssh,
        "policy": parse_policy,
    }
    out: list[Any] = []
    for item in items:
        if item == "":
            continue
        if attr in ("cache-from", "cache-to"):
            out.extend(parse_cache(item))
        else:
            out.append(parsers[attr](item))
    return tuple(out)


def decode_target(name: str, values: dict[str, tuple[object, SourceRange]], source_dir: str | None) -> Target:
    """Build a Target from its evaluated attributes (``values``: HCL name → (value, range))."""
    fields: dict[str, Any] = {}
    for attr, (v, rng) in values.items():
        kind = ATTRIBUTES.get(attr)
        if kind is None:
            continue
        key = attr.replace("-", "_")
        if kind == "string":
            fields[key] = _string(attr, v, rng)
        elif kind == "list":
            fields[key] = _list(attr, v, rng)
        elif kind in ("map", "nullmap"):
            fields[key] = _map(attr, v, rng, kind == "nullmap")
        elif kind == "bool":
            try:
                fields[key] = None if v is None else to_bool(v)
            except ConversionError:
                raise _type_error(attr, "bool", rng) from None
        elif kind == "resources":
            res = _map(attr, v, rng, False)
            if res is not None:
                unknown = set(res) - set(RESOURCE_KEYS)
                if unknown:
                    raise DefinitionError("Unsupported argument", f'An argument named "{sorted(unknown)[0]}" is not expected here.', rng)
            fields[key] = res
        else:
            if v is None:
                fields[key] = None
                continue
            if not isinstance(v, list):
                raise _type_error(attr, "list of string or object", rng)
            try:
                fields[key] = decode_entries(attr, [_flag_value(attr, x, rng) for x in v if x is not None])
            except FlagError as err:
                raise DefinitionError("Invalid attribute value", str(err), rng) from None
    return Target(name=name, source_dir=source_dir, **fields)
