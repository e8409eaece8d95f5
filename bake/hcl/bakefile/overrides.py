"""``--set PATTERN.KEY[.SUB](=|+=)VALUE`` overrides, applied per target as buildx does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bake._record import record
from bake.errors import UsageError
from bake.hcl.bakefile.buildflags import (
    parse_attest,
    parse_cache,
    parse_export,
    parse_policy,
    parse_secret,
    parse_ssh,
)
from bake.hcl.bakefile.decode import RESOURCE_KEYS
from bake.hcl.engine.strconv import FlagError, parse_go_bool
from bake.model import ExportEntry, Target

MAP_KEYS = {"args": "args", "labels": "labels", "contexts": "contexts", "extra-hosts": "extra_hosts", "resources": "resources"}
STRING_KEYS = {"context", "dockerfile", "target", "call", "shm-size", "network"}
LIST_KEYS = {
    "tags": "tags", "platform": "platforms", "output": "output", "cache-from": "cache_from", "cache-to": "cache_to",
    "secrets": "secret", "ssh": "ssh", "no-cache-filter": "no_cache_filter", "ulimits": "ulimits", "policy": "policy",
}
APPEND_KEYS = {"annotations": "annotations", "attest": "attest", "entitlements": "entitlements"}
BOOL_KEYS = {"no-cache": "no_cache", "pull": "pull"}


@record
class Override:
    pattern: str
    key: str
    sub: str | None
    value: str
    append: bool


def parse_overrides(specs: list[str], env: Mapping[str, str]) -> list[Override]:
    out: list[Override] = []
    for spec in specs:
        lhs, sep, value = spec.partition("=")
        append = sep and lhs.endswith("+")
        if append:
            lhs = lhs[:-1]
        parts = lhs.split(".", 2)
        raw_key = spec.partition("=")[0]
        if len(parts) < 2:
            raise UsageError(f"invalid override key {lhs}, expected target.name")
        pattern, key = parts[0], parts[1]
        sub = parts[2] if len(parts) > 2 else None
        if not sep and key != "args":
            raise UsageError(f"invalid override {spec}, expected target.name=value")
        if key in ("args", "contexts", "resources", "secret") and sub is None:
            raise UsageError(f"invalid key {raw_key}, {key} requires name")
        if key in ("resources", "secret") and append:
            raise UsageError(f"invalid key {raw_key}, {key} does not support append")
        if key in ("labels", "extra-hosts") and sub is None:
            what = "<hostname>=<ip>" if key == "extra-hosts" else "<name>=<value>"
            raise UsageError(f"invalid format for {key}, expecting {key}.{what}")
        if not sep:  # `args.NAME` alone takes the value from the environment, or is ignored
            if sub is None or sub not in env:
                continue
            value = env[sub]
        out.append(Override(pattern, key, sub, value, bool(append)))
    return out


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's ``path.Match`` syntax: ``*``, ``?``, ``[a-z]``, ``[^a]``, ``\\`` escapes."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                raise UsageError(f"invalid pattern {pattern!r}: syntax error in pattern")
            body = pattern[i + 1 : j]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def check_patterns(overrides: list[Override], names: list[str]) -> None:
    for o in overrides:
        rx = glob_regex(o.pattern)
        if not any(rx.match(n) for n in names):
            raise UsageError(f"could not find any target matching '{o.pattern}'")


def apply(t: Target, overrides: list[Override]) -> Target:
    """Apply the overrides whose pattern matches ``t.name``, in order."""
    mine = [o for o in overrides if glob_regex(o.pattern).match(t.name)]
    if not mine:
        return t
    lists: dict[str, list[Override]] = {}
    for o in mine:
        if o.key in LIST_KEYS:
            lists.setdefault(o.key, []).append(o)
            continue
        t = _apply_one(t, o)
    for key, group in lists.items():
        t = _apply_list(t, key, group)
    return t


def _flag(fn: Any, value: str) -> Any:
    try:
        return fn(value)
    except FlagError as err:
        raise UsageError(str(err)) from None


def _apply_one(t: Target, o: Override) -> Target:
    key, v = o.key, o.value
    if key == "resources":
        if o.sub not in RESOURCE_KEYS:
            raise UsageError(f"unknown resources key {o.sub}")
        if o.sub in ("cpu-shares", "cpu-period", "cpu-quota") and not re.fullmatch(r"[+-]?\d+", v):
            raise UsageError(f"invalid value {v} for int64 key resources.{o.sub}")
    if key in MAP_KEYS:
        field = MAP_KEYS[key]
        current = dict(getattr(t, field) or {})
        current[o.sub or ""] = v
        return t.evolve(**{field: current})
    if key == "secret":
        declared = [s for s in (t.secret or ()) if s.id == o.sub]
        if not declared:
            raise UsageError(f'secret "{o.sub}" must be declared before it can be overridden')
        new = _flag(parse_secret, v)
        if new.id and new.id != o.sub:
            raise UsageError(f'secret override id "{new.id}" does not match declared secret "{o.sub}"')
        return t.evolve(secret=tuple(
            s.__class__(s.id, new.src, new.env) if s.id == o.sub else s for s in (t.secret or ())))
    if key in STRING_KEYS:
        if key == "context":  # --set values are relative to the working directory, never rebased
            return t.evolve(context=v, source_dir=None)
        return t.evolve(**{key.replace("-", "_"): v})
    if key in BOOL_KEYS:
        try:
            b = parse_go_bool(v)
        except FlagError:
            raise UsageError(f"invalid value {v} for boolean key {key}") from None
        return t.evolve(**{BOOL_KEYS[key]: b})
    if key in APPEND_KEYS:
        field = APPEND_KEYS[key]
        item = _flag(parse_attest, v) if key == "attest" else v
        return t.evolve(**{field: (*(getattr(t, field) or ()), item)})
    if key == "push":
        return t.evolve(output=_push(t.output or (), _bool(key, v)))
    if key == "load":
        return t.evolve(output=_load(t.output or ()) if _bool(key, v) else t.output)
    raise UsageError(f"unknown key: {key}")


def _bool(key: str, v: str) -> bool:
    try:
        return parse_go_bool(v)
    except FlagError:
        raise UsageError(f"invalid value {v} for boolean key {key}") from None


def _apply_list(t: Target, key: str, group: list[Override]) -> Target:
    field = LIST_KEYS[key]
    items: list[Any] = []
    for o in group:
        if o.value == "":
            continue
        if key == "output":
            items.append(_flag(parse_export, o.value))
        elif key in ("cache-from", "cache-to"):
            items.extend(_flag(parse_cache, o.value))
        elif key == "secrets":
            items.append(_flag(parse_secret, o.value))
        elif key == "ssh":
            items.append(_flag(parse_ssh, o.value))
        elif key == "policy":
            items.append(_flag(parse_policy, o.value))
        else:
            items.append(o.value)
    if group[-1].append:
        items = [*(getattr(t, field) or ()), *items]
    return t.evolve(**{field: tuple(items)})


def _push(outputs: tuple[ExportEntry, ...], push: bool) -> tuple[ExportEntry, ...]:
    def with_attr(e: ExportEntry, value: str) -> ExportEntry:
        attrs = dict(e.attrs)
        attrs["push"] = value
        return ExportEntry(e.type, e.dest, tuple(sorted(attrs.items())))

    if not push:
        return tuple(with_attr(e, "false") if e.type == "image" else e for e in outputs if e.type != "registry")
    out = [with_attr(e, "true") if e.type == "image" else e for e in outputs]
    if not outputs or all(e.type == "docker" for e in outputs):
        out.append(ExportEntry("image", "", (("push", "true"),)))
    return tuple(out)


def _load(outputs: tuple[ExportEntry, ...]) -> tuple[ExportEntry, ...]:
    if any(e.type == "docker" and not e.dest for e in outputs):
        return outputs
    if any(e.type not in ("image", "registry", "oci", "docker") for e in outputs):
        return outputs
    return (*outputs, ExportEntry("docker"))
