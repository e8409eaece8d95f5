"""The CSV forms of ``docker buildx build`` flags (``type=local,dest=out``), as bake reads them."""

from __future__ import annotations

from typing import Any

from bake.hcl.engine.strconv import FlagError, csv_fields, parse_go_bool
from bake.model import AttestEntry, Attrs, CacheEntry, ExportEntry, SecretEntry, SSHEntry


def _attrs(d: dict[str, str]) -> Attrs:
    return tuple(sorted(d.items()))


def parse_export(s: str | dict[str, str]) -> ExportEntry:
    if isinstance(s, dict):
        d = dict(s)
        typ, dest = d.pop("type", ""), d.pop("dest", "")
        if not typ:
            raise FlagError("type is required for output")
        return ExportEntry(typ, dest, _attrs(d))
    fields = csv_fields(s)
    if len(fields) == 1 and fields[0] == s and not s.startswith("type="):
        return ExportEntry("local" if s != "-" else "tar", s)
    typ, dest, attrs = "", "", {}
    for f in fields:
        key, sep, value = f.partition("=")
        if not sep:
            raise FlagError(f"invalid value {f}")
        key = key.strip().lower()
        if key == "type":
            typ = value
        elif key == "dest":
            dest = value
        else:
            attrs[key] = value
    if not typ:
        raise FlagError("type is required for output")
    return ExportEntry(typ, dest, _attrs(attrs))


def parse_cache(s: str | dict[str, str]) -> list[CacheEntry]:
    if isinstance(s, dict):
        d = dict(s)
        typ = d.pop("type", "")
        if not typ:
            import json

            raise FlagError(f"type required for {json.dumps(s, separators=(',', ':'))!r}")
        return [CacheEntry(typ, _attrs(d))]
    if "=" not in s:
        return [CacheEntry("registry", (("ref", f),)) for f in csv_fields(s)]
    typ, attrs = "", {}
    for f in csv_fields(s):
        key, sep, value = f.partition("=")
        if not sep:
            raise FlagError(f"invalid value {f}")
        if key.lower() == "type":
            typ = value
        else:
            attrs[key.lower()] = value
    if not typ:
        raise FlagError(f'type required for "{s}"')
    return [CacheEntry(typ, _attrs(attrs))]


def parse_secret(s: str | dict[str, str]) -> SecretEntry:
    fields = [f"{k}={v}" for k, v in s.items()] if isinstance(s, dict) else csv_fields(s)
    sid = src = env = typ = ""
    for f in fields:
        key, sep, value = f.partition("=")
        key = key.lower()
        if not sep:
            raise FlagError(f"invalid field '{f}' must be a key=value pair")
        if key == "type":
            if value not in ("file", "env"):
                raise FlagError(f'unsupported secret type "{value}"')
            typ = value
        elif key == "id":
            sid = value
        elif key in ("source", "src"):
            src = value
        elif key == "env":
            env = value
        else:
            raise FlagError(f"unexpected key '{key}' in '{f}'")
    if typ == "env" and not env:
        src, env = "", src
    return SecretEntry(sid, src, env)


def parse_ssh(s: str | dict[str, object]) -> SSHEntry:
    if isinstance(s, dict):
        paths = s.get("paths") or []
        return SSHEntry(str(s.get("id", "")), tuple(str(p) for p in paths) if isinstance(paths, list) else (str(paths),))
    sid, sep, rest = s.partition("=")
    return SSHEntry(sid, tuple(p for p in rest.split(",") if p) if sep else ())


def parse_attest(s: str | dict[str, object]) -> AttestEntry:
    if isinstance(s, dict):
        d = dict(s)
        typ = d.pop("type", "")
        disabled = d.pop("disabled", False)
        if isinstance(disabled, str):
            disabled = parse_go_bool(disabled)
        if not typ:
            raise FlagError("attestation type not specified")
        return AttestEntry(str(typ), bool(disabled), _attrs({k: str(v) for k, v in d.items()}))
    typ, disabled, attrs = "", False, {}
    for f in csv_fields(s):
        key, sep, value = f.partition("=")
        if not sep:
            raise FlagError(f"invalid value {f}")
        k = key.strip().lower()
        if k == "type":
            typ = value
        elif k == "disabled":
            try:
                disabled = parse_go_bool(value)
            except FlagError as err:
                raise FlagError(f"invalid value {f}: {err}") from None
        else:
            attrs[key] = value
    if not typ:
        raise FlagError("attestation type not specified")
    return AttestEntry(typ, disabled, _attrs(attrs))


def canonical_attest(kind: str, value: str) -> str:
    """``--sbom``/``--provenance`` values: a bool becomes ``disabled=<!v>``."""
    try:
        return f"type={kind},disabled={'false' if parse_go_bool(value) else 'true'}"
    except FlagError:
        return f"type={kind},{value}"


_LOG_LEVELS = {"panic": "panic", "fatal": "fatal", "error": "error", "warn": "warning", "warning": "warning",
               "info": "info", "debug": "debug", "trace": "trace"}


def parse_policy(item: str | dict[str, Any]) -> dict[str, Any]:
    """A ``policy`` entry, shaped as buildx prints it (its Go struct: Files/Reset/Disabled/Strict/LogLevel)."""
    pairs: list[tuple[str, Any]]
    if isinstance(item, dict):
        pairs = list(item.items())
    else:
        pairs = []
        for f in csv_fields(item):
            k, sep, v = f.partition("=")
            if not sep:
                raise FlagError(f"invalid value {f}")
            pairs.append((k, v))
    out: dict[str, Any] = {"Files": None, "Reset": False, "Disabled": False, "Strict": None, "LogLevel": None}
    files: list[dict[str, Any]] = []
    for k, v in pairs:
        key = k.strip().lower()
        field = f"{k}={v}"
        if key == "filename":
            for name in v if isinstance(v, list) else [v]:
                if not name:
                    raise FlagError(f"invalid value {field}")
                files.append({"Filename": str(name), "Data": None})
        elif key in ("reset", "disabled", "strict"):
            try:
                out[key.capitalize()] = v if isinstance(v, bool) else parse_go_bool(str(v))
            except FlagError as err:
                raise FlagError(f"invalid value {field}: {err}") from None
        elif key == "log-level":
            level = _LOG_LEVELS.get(str(v).lower())
            if level is None:
                raise FlagError(f'invalid value {field}: not a valid logrus Level: "{v}"')
            out["LogLevel"] = level
        else:
            raise FlagError(f"invalid value {field}")
    out["Files"] = files or None
    return out
