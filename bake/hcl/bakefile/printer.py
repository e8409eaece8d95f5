"""``--print`` and ``--list`` output, byte-compatible with buildx v0.36."""

from __future__ import annotations

import json
from typing import Any

from bake.hcl.bakefile.decode import RESOURCE_KEYS
from bake.hcl.engine.values import escape_html
from bake.model import (
    AttestEntry,
    CacheEntry,
    ExportEntry,
    Group,
    Plan,
    SecretEntry,
    SSHEntry,
    Target,
    clean_context,
)

ESCAPED_FIELDS = ("args", "labels", "annotations", "dockerfile_inline", "extra_hosts")


def entry_json(e: object) -> dict[str, Any]:
    if isinstance(e, ExportEntry):
        d: dict[str, Any] = dict(e.attrs)
        d["type"] = e.type
        if e.dest:
            d["dest"] = e.dest
        return dict(sorted(d.items()))
    if isinstance(e, CacheEntry):
        return dict(sorted({**dict(e.attrs), "type": e.type}.items()))
    if isinstance(e, AttestEntry):
        d = {**dict(e.attrs), "type": e.type}
        if e.disabled:
            d["disabled"] = True
        return dict(sorted(d.items()))
    if isinstance(e, SecretEntry):
        return {k: v for k, v in (("id", e.id), ("src", e.src), ("env", e.env)) if v}
    if isinstance(e, SSHEntry):
        out: dict[str, Any] = {"id": e.id} if e.id else {}
        if e.paths:
            out["paths"] = list(e.paths)
        return out
    if isinstance(e, dict):
        return e
    raise TypeError(type(e))


def _escape(s: str) -> str:
    return s.replace("${", "$${").replace("%{", "%%{")


def target_json(t: Target) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is None or (isinstance(value, (list, dict, tuple, str)) and not value and key not in ("pull", "no-cache")):
            return
        out[key] = value

    put("description", t.description)
    put("annotations", [_escape(a) for a in t.annotations] if t.annotations else None)
    put("attest", [entry_json(a) for a in t.attest] if t.attest else None)
    out["context"] = clean_context(t.context) if t.context else "."
    put("contexts", dict(sorted(t.contexts.items())) if t.contexts else None)
    out["dockerfile"] = t.dockerfile or "Dockerfile"
    put("dockerfile-inline", _escape(t.dockerfile_inline) if t.dockerfile_inline else None)
    for key, m in (("args", t.args), ("labels", t.labels)):
        if m:
            put(key, {k: _escape(v) for k, v in sorted(m.items()) if v is not None})
    put("tags", list(t.tags) if t.tags else None)
    put("cache-from", [entry_json(c) for c in t.cache_from] if t.cache_from else None)
    put("cache-to", [entry_json(c) for c in t.cache_to] if t.cache_to else None)
    put("target", t.target)
    put("secret", [entry_json(s) for s in t.secret] if t.secret else None)
    put("ssh", [entry_json(s) for s in t.ssh] if t.ssh else None)
    put("platforms", list(t.platforms) if t.platforms else None)
    put("output", [entry_json(o) for o in t.output] if t.output else None)
    if t.pull is not None:
        out["pull"] = t.pull
    if t.no_cache is not None:
        out["no-cache"] = t.no_cache
    put("network", t.network)
    put("no-cache-filter", list(t.no_cache_filter) if t.no_cache_filter else None)
    put("shm-size", t.shm_size)
    put("ulimits", list(t.ulimits) if t.ulimits else None)
    if t.resources:
        put("resources", {k: _resource_value(k, t.resources[k]) for k in RESOURCE_KEYS if k in t.resources})
    put("call", t.call)
    put("entitlements", list(t.entitlements) if t.entitlements else None)
    put("extra-hosts", {k: _escape(v) for k, v in sorted(t.extra_hosts.items())} if t.extra_hosts else None)
    put("policy", list(t.policy) if t.policy else None)
    return out


def _resource_value(key: str, v: str) -> Any:
    if key in ("cpu-shares", "cpu-period", "cpu-quota"):
        try:
            return int(v)
        except ValueError:
            return v
    return v


def group_json(g: Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if g.description:
        out["description"] = g.description
    out["targets"] = list(g.targets)
    return out


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "group": {name: group_json(g) for name, g in sorted(plan.groups.items())},
        "target": {name: target_json(t) for name, t in sorted(plan.targets.items())},
    }


def go_json(value: Any, indent: bool = True) -> str:
    """JSON as Go's ``json.MarshalIndent`` writes it (HTML-safe escapes, two-space indent)."""
    if indent:
        parts: list[str] = []
        _write(value, "\n", parts)
        text = "".join(parts)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return escape_html(text)


_encode_str = json.encoder.encode_basestring  # C-accelerated; json.dumps(indent=…) is pure Python


def _write(v: Any, nl: str, out: list[str]) -> None:
    if isinstance(v, str):
        out.append(_encode_str(v))
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        inner = nl + "  "
        if all(type(x) is str for x in v.values()):  # the common case, without recursion
            sep = "," + inner
            out.append("{" + inner + sep.join(_encode_str(k) + ": " + _encode_str(x) for k, x in v.items()) + nl + "}")
            return
        out.append("{")
        first = True
        for k, x in v.items():
            out.append((inner if first else "," + inner) + _encode_str(k) + ": ")
            first = False
            if type(x) is str:  # most values: no recursion
                out.append(_encode_str(x))
            elif type(x) is bool:
                out.append("true" if x else "false")
            else:
                _write(x, inner, out)
        out.append(nl + "}")
    elif isinstance(v, (list, tuple)):
        if not v:
            out.append("[]")
            return
        inner = nl + "  "
        if all(type(x) is str for x in v):
            out.append("[" + inner + ("," + inner).join(map(_encode_str, v)) + nl + "]")
            return
        out.append("[")
        for i, x in enumerate(v):
            out.append(inner if i == 0 else "," + inner)
            _write(x, inner, out)
        out.append(nl + "]")
    else:
        out.append(json.dumps(v))


def render_plan(plan: Plan) -> str:
    return go_json(plan_json(plan)) + "\n"


# --- --list ------------------------------------------------------------------------------------


def list_targets(targets: dict[str, Target], groups: dict[str, Group], as_json: bool) -> str:
    """``--list targets``: targets and groups by name (a name can be both), ``_private`` ones hidden."""
    rows: list[tuple[str, int, str]] = []
    for name, t in targets.items():
        rows.append((name, 0, t.description or ""))
    for name, g in groups.items():
        members = ", ".join(sorted(g.targets))
        desc = f"{g.description} ({members})" if g.description and members else (g.description or members)
        rows.append((name, 1, desc))
    rows = sorted(r for r in rows if not r[0].startswith("_"))
    if as_json:
        items = []
        for name, is_group, desc in rows:
            item: dict[str, Any] = {"name": name}
            if desc:
                item["description"] = desc
            if is_group:
                item["group"] = True
            items.append(item)
        return (go_json(items) if items else "null") + "\n"
    return tabwriter([["TARGET", "DESCRIPTION"], *([n, d] for n, _, d in rows)])


def list_variables(rows: list[dict[str, str]] | None, as_json: bool) -> str:
    """``--list variables``; ``rows`` is None when only compose files were read (buildx's JSON is then null)."""
    if as_json:
        return (go_json(rows) if rows is not None else "null") + "\n"
    return tabwriter([["VARIABLE", "TYPE", "VALUE", "DESCRIPTION"],
                      *([r["name"], r.get("type", ""), r.get("value", "<null>"), r.get("description", "")] for r in rows or [])])


def tabwriter(rows: list[list[str]], tabwidth: int = 8, padding: int = 1) -> str:
    """Go's ``tabwriter.NewWriter(w, 1, 8, 1, '\\t', 0)`` as buildx uses it: every cell but the last
    is padded with tabs to the column width (widest cell + padding, rounded up to a tab stop)."""
    ncols = max(len(r) for r in rows) - 1
    widths = []
    for i in range(ncols):
        w = max(len(r[i]) for r in rows if len(r) > i + 1) + padding
        widths.append((w + tabwidth - 1) // tabwidth * tabwidth)
    lines = []
    for r in rows:
        out = []
        for i, cell in enumerate(r):
            out.append(cell)
            if i < len(r) - 1:
                out.append("\t" * ((widths[i] - len(cell) + tabwidth - 1) // tabwidth))
        lines.append("".join(out))
    return "\n".join(lines) + "\n"
