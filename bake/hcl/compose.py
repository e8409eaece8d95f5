"""Compose files: services with a ``build:`` section become targets (buildx's compose reader).

The result is an ``ast.Body`` of literal ``target`` blocks plus the ``default`` group, so compose
targets merge with HCL targets of the same name exactly like two HCL files would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from bake.errors import DefinitionError, SourceRange
from bake.hcl import ast

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def parse_compose(text: str, file: str, env: Mapping[str, str]) -> ast.Body:
    import yaml

    rng = SourceRange(file, 1, 1, 1, 1)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = (mark.line + 1) if mark else 1
        col = (mark.column + 1) if mark else 1
        raise DefinitionError("Invalid compose file", str(getattr(err, "problem", err)), SourceRange(file, line, col, line, col + 1)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise DefinitionError("Invalid compose file", "no services found", rng)
    doc = _interpolate(doc, env)
    top_secrets = doc.get("secrets") or {}
    blocks: list[ast.Block] = []
    names: list[str] = []
    for svc_name, svc in sorted(doc["services"].items()):
        if not isinstance(svc, dict) or "build" not in svc:
            continue
        name = svc_name.replace(".", "_")
        build = svc["build"]
        if isinstance(build, str):
            build = {"context": build}
        attrs = _target_attrs(svc, build or {}, top_secrets, env)
        blocks.append(ast.Block("target", (name,), _literal_body(attrs, rng), rng))
        names.append(name)
    if names:
        blocks.append(ast.Block("group", ("default",), _literal_body({"targets": names}, rng), rng))
    return ast.Body((), tuple(blocks))


def _target_attrs(svc: dict[str, Any], build: dict[str, Any], top_secrets: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    a: dict[str, Any] = {"context": build.get("context", ".")}
    if "dockerfile" in build:
        a["dockerfile"] = build["dockerfile"]
    if "dockerfile_inline" in build:
        a["dockerfile-inline"] = build["dockerfile_inline"]
    for src, dst in (("args", "args"), ("labels", "labels")):
        if build.get(src) is not None:
            a[dst] = _mapping(build[src], env)
    if build.get("tags"):
        a["tags"] = list(build["tags"])
    elif svc.get("image"):
        a["tags"] = [svc["image"]]
    for src, dst in (("cache_from", "cache-from"), ("cache_to", "cache-to"), ("platforms", "platforms"),
                     ("target", "target"), ("network", "network"), ("shm_size", "shm-size"), ("no_cache", "no-cache"),
                     ("pull", "pull"), ("ssh", "ssh")):
        if build.get(src) is not None:
            v = build[src]
            a[dst] = _ssh(v) if src == "ssh" else v
    if build.get("extra_hosts") is not None:
        a["extra-hosts"] = _mapping(build["extra_hosts"], env, sep=":")
    if build.get("ulimits"):
        a["ulimits"] = [_ulimit(k, v) for k, v in build["ulimits"].items()]
    if build.get("additional_contexts"):
        ctxs = _mapping(build["additional_contexts"], env)
        a["contexts"] = {k: ("target:" + v[len("service:"):] if v.startswith("service:") else v) for k, v in ctxs.items()}
    if build.get("secrets"):
        a["secret"] = [_secret(s, top_secrets) for s in build["secrets"]]
    xb = build.get("x-bake") or {}
    for key in ("tags", "cache-from", "cache-to", "secret", "ssh", "platforms", "output", "pull", "no-cache",
                "no-cache-filter", "contexts"):
        if key in xb:
            v = xb[key]
            a[key] = [v] if isinstance(v, str) and key not in ("pull", "no-cache", "contexts") else v
    return a


def _mapping(v: Any, env: Mapping[str, str], sep: str = "=") -> dict[str, Any]:
    """A compose mapping or list; a list entry without a value takes it from the environment."""
    if isinstance(v, dict):
        return {str(k): (None if x is None else str(x) if not isinstance(x, bool) else str(x).lower()) for k, x in v.items()}
    out: dict[str, Any] = {}
    for item in v or []:
        k, s, x = str(item).partition(sep if sep in str(item) else "=")
        out[k] = x if s else env.get(k)
    return out


def _ssh(v: Any) -> list[str]:
    if isinstance(v, dict):
        return [f"{k}={x}" if x else str(k) for k, x in v.items()]
    return [str(x) for x in v]


def _ulimit(name: str, v: Any) -> str:
    if isinstance(v, dict):
        return f"{name}={v.get('soft')}:{v.get('hard')}"
    return f"{name}={v}"


def _secret(s: Any, top: dict[str, Any]) -> str:
    sid = s if isinstance(s, str) else s.get("source", "")
    spec = top.get(sid) or {}
    if "file" in spec:
        return f"id={sid},src={spec['file']}"
    if "environment" in spec:
        return f"id={sid},env={spec['environment']}"
    return f"id={sid}"


def _literal_body(attrs: dict[str, Any], rng: SourceRange) -> ast.Body:
    return ast.Body(tuple(ast.Attribute(k, _literal(v, rng), rng) for k, v in attrs.items()), ())


def _literal(v: Any, rng: SourceRange) -> ast.Expr:
    if isinstance(v, list):
        return ast.TupleExpr(tuple(_literal(x, rng) for x in v), rng)
    if isinstance(v, dict):
        return ast.ObjectExpr(tuple((ast.Literal(str(k), rng), _literal(x, rng)) for k, x in v.items()), rng)
    return ast.Literal(v, rng)


def _interpolate(v: Any, env: Mapping[str, str]) -> Any:
    if isinstance(v, str):
        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1) or m.group(4)
            op, arg = m.group(2), m.group(3) or ""
            val = env.get(name)
            if op in (":-", "-"):
                return val if val is not None and (val or op == "-") else arg
            if op in (":+", "+"):
                return arg if (val if op == ":+" else val is not None) else ""
            if op in (":?", "?") and not val:
                raise DefinitionError("Invalid compose file", f"required variable {name} is missing a value: {arg}")
            return val or ""

        return _VAR.sub(repl, v)
    if isinstance(v, list):
        return [_interpolate(x, env) for x in v]
    if isinstance(v, dict):
        return {k: _interpolate(x, env) for k, x in v.items()}
    return v


def compose_env(env: Mapping[str, str], variables: Mapping[str, str], cwd: str) -> dict[str, str]:
    """What compose interpolation sees: ``.env`` in the working directory, under the environment,
    under ``--var`` values (buildx's order)."""
    return {**_dotenv(cwd), **env, **variables}


def _dotenv(directory: str) -> dict[str, str]:
    path = os.path.join(directory, ".env")
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                k, _, v = line.partition("=")
                out[k.strip()] = v.strip().strip("'\"")
    except OSError:
        pass
    return out
