"""Compose files: services with a ``build:`` section become targets (buildx's compose reader).

The result is an ``ast.Body`` of literal ``target`` blocks plus the ``default`` group, so compose
targets merge with HCL targets of the same name exactly like two HCL files would.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from typing import Any

from bake.errors import DefinitionError, SourceRange
from bake.hcl.bakefile.buildflags import canonical_attest
from bake.hcl.bakefile.merge import dedupe
from bake.hcl.engine import ast
from bake.model import ram_in_bytes

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def parse_compose(text: str, file: str, env: Mapping[str, str]) -> ast.Body:
    """The build services of a compose file as target blocks; a field of the wrong type is an
    error at that field ("services.web.build.args must be a mapping or a list")."""
    import yaml

    rng = SourceRange(file, 1, 1, 1, 1)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = (mark.line + 1) if mark else 1
        col = (mark.column + 1) if mark else 1
        raise DefinitionError("Invalid compose file", str(getattr(err, "problem", err)), SourceRange(file, line, col, line, col + 1)) from None
    except RecursionError:
        from bake.hcl.engine.grammar import too_deep

        line, col = too_deep(text) or (1, 1)
        raise DefinitionError("Invalid compose file", "the document is nested too deeply",
                              SourceRange(file, line, col, line, col + 1)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise DefinitionError("Invalid compose file", "no services found", rng)
    try:
        return _services(_interpolate(doc, env), env, rng)
    except _ShapeError as err:
        raise DefinitionError("Invalid compose file", f"{'.'.join(err.path)} must be {err.want}",
                              _locate(text, file, err.path)) from None


def _services(doc: dict[Any, Any], env: Mapping[str, str], rng: SourceRange) -> ast.Body:
    top_secrets = _dict(doc.get("secrets") or {}, ("secrets",))
    blocks: list[ast.Block] = []
    names: list[str] = []
    for svc_name, svc in sorted(doc["services"].items(), key=lambda kv: str(kv[0])):
        if not isinstance(svc, dict) or "build" not in svc:
            continue
        name = str(svc_name).replace(".", "_")
        if not re.fullmatch(r"[a-zA-Z0-9_-]+", name):
            raise DefinitionError("Invalid compose file", f'invalid service name "{name}": only "[a-zA-Z0-9_-]+" are allowed', rng)
        build = svc["build"]
        path = ("services", str(svc_name), "build")
        if isinstance(build, str):
            build = {"context": build}
        attrs = _target_attrs(svc, _dict(build or {}, path, "a string or a mapping"), top_secrets, env, path)
        blocks.append(ast.Block("target", (name,), _literal_body(attrs, rng), rng))
        names.append(name)
    if names:
        blocks.append(ast.Block("group", ("default",), _literal_body({"targets": names}, rng), rng))
    return ast.Body((), tuple(blocks))


class _ShapeError(Exception):
    """A compose field holds the wrong kind of value: ``path`` names the field, ``want`` the kind."""

    def __init__(self, path: tuple[str, ...], want: str) -> None:
        super().__init__(f"{'.'.join(path)} must be {want}")
        self.path = path
        self.want = want


def _dict(v: Any, path: tuple[str, ...], want: str = "a mapping") -> dict[Any, Any]:
    if not isinstance(v, dict):
        raise _ShapeError(path, want)
    return v


def _scalar(v: Any, path: tuple[str, ...]) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (str, int, float, datetime.date)):  # YAML reads 2024-01-02 as a date; compose as text
        return str(v)
    raise _ShapeError(path, "a string")


def _strings(v: Any, path: tuple[str, ...]) -> list[str]:
    if not isinstance(v, list):
        raise _ShapeError(path, "a list of strings")
    return [_scalar(x, (*path, str(i))) for i, x in enumerate(v)]


def _locate(text: str, file: str, path: tuple[str, ...]) -> SourceRange:
    """Where ``path`` is in the YAML text (as far down the path as it can be followed)."""
    import yaml

    try:
        node = yaml.compose(text)
    except (yaml.YAMLError, RecursionError):
        node = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), node)
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
    if node is None:
        return SourceRange(file, 1, 1, 1, 1)
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    return SourceRange(file, line, col, line, col + 1)


def _target_attrs(
    svc: dict[str, Any], build: dict[str, Any], top_secrets: dict[str, Any], env: Mapping[str, str],
    path: tuple[str, ...],
) -> dict[str, Any]:
    """One build service as target attributes, then its ``x-bake`` extension merged in (buildx's rules)."""
    a: dict[str, Any] = {}
    for src, dst in (("context", "context"), ("dockerfile", "dockerfile"), ("dockerfile_inline", "dockerfile-inline"),
                     ("target", "target"), ("network", "network")):
        if build.get(src):
            a[dst] = _scalar(build[src], (*path, src))
    svc_env = _mapping(svc.get("environment"), {}, path=(*path[:2], "environment"))
    args = _mapping(build.get("args"), {**env, **{k: v for k, v in svc_env.items() if v is not None}}, path=(*path, "args"))
    if args:
        a["args"] = {k: v for k, v in args.items() if v is not None}
    if build.get("labels"):
        a["labels"] = _mapping(build["labels"], {}, path=(*path, "labels"))
    if build.get("tags"):
        a["tags"] = _strings(build["tags"], (*path, "tags"))
    for src, dst in (("cache_from", "cache-from"), ("cache_to", "cache-to"), ("platforms", "platforms")):
        if build.get(src):
            a[dst] = _strings(build[src], (*path, src))
    if build.get("shm_size"):
        a["shm-size"] = _bytes_size(build["shm_size"], (*path, "shm_size"))
    for src, dst in (("no_cache", "no-cache"), ("pull", "pull")):
        if build.get(src) is True:
            a[dst] = True
    if build.get("ssh"):
        a["ssh"] = _ssh(build["ssh"], (*path, "ssh"))
    if build.get("extra_hosts"):
        hosts = build["extra_hosts"]
        where = (*path, "extra_hosts")
        if isinstance(hosts, dict):
            a["extra-hosts"] = {str(k): ",".join(_strings(v, (*where, str(k)))) if isinstance(v, list)
                                else _scalar(v, (*where, str(k))) for k, v in hosts.items()}
        else:
            pairs = [re.split(r"[=:]", h, maxsplit=1) for h in _strings(hosts, where)]
            a["extra-hosts"] = {p[0]: p[1] if len(p) > 1 else "" for p in pairs}
    if build.get("ulimits"):
        where = (*path, "ulimits")
        a["ulimits"] = sorted(_ulimit(str(k), v, (*where, str(k))) for k, v in _dict(build["ulimits"], where).items())
    if build.get("additional_contexts"):
        a["contexts"] = _named_contexts(_mapping(build["additional_contexts"], {}, path=(*path, "additional_contexts")))
    if build.get("secrets"):
        where = (*path, "secrets")
        if not isinstance(build["secrets"], list):
            raise _ShapeError(where, "a list")
        a["secret"] = [_secret(s, top_secrets, (*where, str(i))) for i, s in enumerate(build["secrets"])]
    attest = [canonical_attest(k, _scalar(build[k], (*path, k))) for k in ("sbom", "provenance") if build.get(k) not in (None, "")]
    if attest:
        a["attest"] = attest
    _merge_xbake(a, build.get("x-bake"), (*path, "x-bake"))
    if not a.get("tags") and svc.get("image"):
        a["tags"] = [_scalar(svc["image"], (*path[:2], "image"))]
    return a


def _merge_xbake(a: dict[str, Any], xb: Any, path: tuple[str, ...]) -> None:
    if not isinstance(xb, dict):
        return

    def strings(key: str) -> list[str]:
        v = xb.get(key)
        if v is None:
            return []
        return v.split() if isinstance(v, str) else _strings(v, (*path, key))

    for key in ("tags", "platforms", "no-cache-filter"):
        if strings(key):
            a[key] = list(dedupe([*(a.get(key) or []), *strings(key)]))
    for key in ("cache-from", "cache-to", "secret", "output"):
        if strings(key):
            a[key] = [*(a.get(key) or []), *strings(key)]
    if strings("ssh"):
        a["ssh"] = sorted([*(a.get("ssh") or []), *strings("ssh")], key=_ssh_key)
    for key in ("pull", "no-cache"):
        if xb.get(key) is not None:
            a[key] = bool(xb[key])
    if isinstance(xb.get("contexts"), dict):
        # the service's own additional_contexts win over x-bake's
        ctx = {str(k): _scalar(v, (*path, "contexts", str(k))) for k, v in xb["contexts"].items()}
        a["contexts"] = {**_named_contexts(ctx), **(a.get("contexts") or {})}


def _named_contexts(m: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in m.items():
        v = str(v)
        if v.startswith(("service:", "target:")):
            v = "target:" + v.split(":", 1)[1].replace(".", "_")
        out[k] = v
    return out


def _mapping(v: Any, env: Mapping[str, str], sep: str = "=", path: tuple[str, ...] = ()) -> dict[str, Any]:
    """A compose mapping or ``KEY=VALUE`` list; a key without a value is looked up in ``env`` (else null)."""
    out: dict[str, Any] = {}
    if isinstance(v, dict):
        for k, x in v.items():
            out[str(k)] = env.get(str(k)) if x is None else _scalar(x, (*path, str(k)))
        return out
    if v is not None and not isinstance(v, list):
        raise _ShapeError(path, "a mapping or a list")
    for i, item in enumerate(v or []):
        k, found, x = _scalar(item, (*path, str(i))).partition(sep)
        out[k] = x if found else env.get(k)
    return out


def _ssh(v: Any, path: tuple[str, ...]) -> list[str]:
    if isinstance(v, dict):
        items = [f"{k}={_scalar(x, (*path, str(k)))}" if x else str(k) for k, x in v.items()]
    else:
        items = _strings(v, path)
    return sorted(items, key=_ssh_key)


def _ssh_key(spec: str) -> tuple[str, str]:
    sid, _, paths = spec.partition("=")
    return sid, paths


def _ulimit(name: str, v: Any, path: tuple[str, ...]) -> str:
    if isinstance(v, dict):
        return f"{name}={_scalar(v.get('soft'), (*path, 'soft'))}:{_scalar(v.get('hard'), (*path, 'hard'))}"
    return f"{name}={_scalar(v, path)}:{_scalar(v, path)}"


def _bytes_size(v: Any, path: tuple[str, ...]) -> str:
    """compose's ``shm_size`` (bytes or ``128m``) as Docker prints a byte count: ``128MiB``."""
    n = float(v) if isinstance(v, int) and not isinstance(v, bool) else float(ram_in_bytes(_scalar(v, path)))
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def _secret(s: Any, top: dict[str, Any], path: tuple[str, ...]) -> dict[str, str]:
    sid = s if isinstance(s, str) else _scalar(_dict(s, path, "a string or a mapping").get("source", ""), (*path, "source"))
    spec = _dict(top.get(sid) or {}, ("secrets", sid))
    if spec.get("external"):
        raise DefinitionError("Invalid compose file", f"unsupported external secret {spec.get('name', sid)}")
    out = {"id": sid}
    if spec.get("file"):
        out["src"] = _scalar(spec["file"], ("secrets", sid, "file"))
    if spec.get("environment"):
        out["env"] = _scalar(spec["environment"], ("secrets", sid, "environment"))
    return out


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
        return out  # no .env file
    return out


def check_services(files: list[tuple[str, str]]) -> None:
    """Every service of the merged compose files (``(name, text)`` pairs) names an image or a build
    (compose's consistency check, which buildx runs after merging them); ``extends`` counts as both."""
    import yaml

    complete: dict[str, bool] = {}
    where: dict[str, str] = {}
    for name, text in files:
        try:
            doc = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError):
            continue  # parse_compose has reported it
        services = doc.get("services") if isinstance(doc, dict) else None
        for svc_name, svc in (services if isinstance(services, dict) else {}).items():
            has = isinstance(svc, dict) and any(svc.get(k) for k in ("image", "build", "extends"))
            complete[str(svc_name)] = complete.get(str(svc_name), False) or has
            where.setdefault(str(svc_name), name)
    for svc_name, ok in complete.items():
        if not ok:
            raise DefinitionError("Invalid compose file", f'service "{svc_name}" has neither an image nor a build '
                                  "context specified: invalid compose project", SourceRange(where[svc_name], 1, 1, 1, 2))
