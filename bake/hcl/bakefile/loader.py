"""Reading bake files: buildx's default lookup, ``-f`` (``-`` = stdin), format detection, and the
entry points that turn files + request into a resolved ``Plan``."""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Mapping

from bake._record import record
from bake.errors import DefinitionError, SourceRange, UsageError
from bake.hcl.bakefile.buildflags import parse_policy
from bake.hcl.bakefile.definition import Definition, SourceBody
from bake.hcl.bakefile.overrides import parse_overrides
from bake.hcl.bakefile.resolve import Resolver
from bake.hcl.engine import ast
from bake.hcl.engine.values import format_number, is_number, type_label
from bake.model import Plan, Target, local_platform

BLOCK_TYPES = ("variable", "target", "group", "function")
"""The block types of a bake file (HCL-JSON needs them to tell blocks from attributes)."""

DEFAULT_FILES = (
    "compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml",
    "docker-bake.json", "docker-bake.hcl", "docker-bake.override.json", "docker-bake.override.hcl",
)


@record
class File:
    name: str
    text: str


def find_files(files: list[str] | None, cwd: str, env: Mapping[str, str], stdin: str | None = None) -> list[File]:
    if not files and env.get("BUILDX_BAKE_FILE"):
        files = [f for f in env["BUILDX_BAKE_FILE"].split(env.get("BUILDX_BAKE_PATH_SEPARATOR") or ":") if f]
    if not files:
        found = [File(n, _read(os.path.join(cwd, n), n)) for n in DEFAULT_FILES if os.path.isfile(os.path.join(cwd, n))]
        if not found:
            raise UsageError("couldn't find a bake definition")
        return found
    out = []
    for f in files:
        if f == "-":
            out.append(File("-", stdin if stdin is not None else decode_source(sys.stdin.buffer.read(), "-")))
            continue
        f = f.removeprefix("cwd://")
        out.append(File(f, _read(os.path.join(cwd, f), f)))
    return out


def _read(path: str, name: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise UsageError(f"open {name}: no such file or directory") from None
    except OSError as err:
        raise UsageError(f"open {name}: {err.strerror}") from None
    return decode_source(data, name)


def decode_source(data: bytes, name: str) -> str:
    """A bake file's text; bytes that are not UTF-8 are an error at their line and column (as in HCL)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        text = data.decode("utf-8", "replace").split("\n")
        lo = max(line - 2, 1)
        raise DefinitionError(
            "Invalid character encoding",
            f"All input files must be UTF-8 encoded; byte 0x{data[err.start]:02x} is not. "
            "Ensure that UTF-8 encoding is selected in your editor.",
            SourceRange(name, line, col, line, col + 1), tuple(text[lo - 1 : line + 2]), lo,
        ) from None


def parse_file(f: File, compose_env: Mapping[str, str]) -> tuple[ast.Body, bool]:
    """(body, is_compose) by extension; unknown extensions try compose, then HCL, then JSON."""
    from bake.hcl.bakefile.compose import parse_compose
    from bake.hcl.engine.jsonbody import parse_json
    from bake.hcl.engine.parse import parse

    lower = f.name.lower()
    if lower.endswith((".yml", ".yaml")):
        return parse_compose(f.text, f.name, compose_env), True
    if lower.endswith(".json"):
        return parse_json(f.text, f.name, BLOCK_TYPES), False
    if lower.endswith(".hcl"):
        return parse(f.text, f.name), False
    errors: list[DefinitionError] = []
    for kind in ("compose", "hcl", "json"):
        try:
            if kind == "compose":
                return parse_compose(f.text, f.name, compose_env), True
            return (parse(f.text, f.name) if kind == "hcl" else parse_json(f.text, f.name, BLOCK_TYPES)), False
        except DefinitionError as err:
            errors.append(err)
    raise errors[1]


class Project:
    """The files of one invocation, merged and evaluated; answers ``--print`` and ``--list``."""

    def __init__(
        self,
        files: list[File],
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        overrides: list[str] | None = None,
        cwd: str = ".",
    ) -> None:
        self.files = files
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)
        sources: list[SourceBody] = []
        compose: list[SourceBody] = []
        env_lookup = self.env.get("BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP", "") not in ("1", "true")
        from bake.hcl.bakefile.compose import compose_env

        cenv = compose_env(self.env if env_lookup else {}, variables or {}, cwd)
        for f in files:
            body, is_compose = parse_file(f, cenv)
            src = SourceBody(f.name, os.path.dirname(f.name) or ".", body)
            (compose if is_compose else sources).append(src)
        self.has_definitions = bool(sources)
        if compose:
            from bake.hcl.bakefile.compose import check_services

            check_services([(f.name, f.text) for f in files if f.name in {c.file for c in compose}])
        builtins = {"BAKE_CMD_CONTEXT": "cwd://", "BAKE_LOCAL_PLATFORM": local_platform()}
        self.definition = Definition(
            compose + sources, self.env, dict(variables or {}), builtins,
            env_lookup=env_lookup,
        )
        self.definition.check()
        self.overrides = parse_overrides(list(overrides or []), self.env)
        self._resolver: Resolver | None = None

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            self._resolver = Resolver(self.definition, self.overrides)
        return self._resolver

    def plan(self, targets: list[str], disable_policy: bool = False) -> Plan:
        """The resolved plan for the requested names, checked as buildx checks it before building.

        ``disable_policy`` is ``--policy disabled=true``: every target's policy list is replaced.
        """
        from bake.hcl.bakefile.validate import check_target

        plan = self.resolver.plan(targets or ["default"])
        sde = self.env.get("SOURCE_DATE_EPOCH")
        relative = self.env.get("BUILDX_BAKE_FILE_RELATIVE_PATHS", "") in ("1", "true")
        for name, t in plan.targets.items():
            if sde and (not t.args or "SOURCE_DATE_EPOCH" not in t.args):
                t = t.evolve(args={**(t.args or {}), "SOURCE_DATE_EPOCH": sde})
            if relative:
                t = rebase(t)
            if disable_policy:
                t = t.evolve(policy=(parse_policy("disabled=true"),))
            check_target(t, self.cwd, self.env)
            plan.targets[name] = t
        return plan

    def variables(self) -> list[dict[str, str]] | None:
        """The variables as ``--list variables`` shows them; None when no HCL or JSON file was read."""
        import json

        if not self.has_definitions:
            return None
        _ = self.resolver  # buildx evaluates every block before it lists: an error anywhere fails the list
        d = self.definition.namespace
        rows = []
        for name in sorted(d.variables):
            block = d.variables[name]
            row: dict[str, str] = {"name": name}
            desc = block.body.attribute("description")
            if desc is not None:
                dv = d.evaluator.eval(desc.expr, d.scope)
                if isinstance(dv, str) and dv:
                    row["description"] = dv
            t = d.variable_type(name)
            if t is not None:
                row["type"] = type_label(t)
            value = d.variable(name)
            if value is not None:
                if isinstance(value, (list, dict)):
                    from bake.hcl.engine.functions.encoding import json_encode

                    row["value"] = json_encode(value)
                elif isinstance(value, bool):
                    row["value"] = json.dumps(value)
                elif is_number(value):
                    row["value"] = format_number(value)  # type: ignore[arg-type]
                else:
                    row["value"] = str(value)
            rows.append(row)
        return rows


def _is_local(path: str) -> bool:
    return "://" not in path and not path.startswith(("target:", "git@")) and not path.startswith("-")


def rebase(t: Target) -> Target:
    """``BUILDX_BAKE_FILE_RELATIVE_PATHS=1``: local paths are relative to the file that set them."""
    base = t.source_dir
    if not base or base == ".":
        return t
    changes: dict[str, object] = {}
    if t.context is None or _is_local(t.context):
        changes["context"] = posixpath.normpath(posixpath.join(base, t.context or "."))
    if t.contexts:
        changes["contexts"] = {k: posixpath.normpath(posixpath.join(base, v)) if _is_local(v) else v
                               for k, v in t.contexts.items()}
    return t.evolve(**changes)


def attach_snippet(err: DefinitionError, files: list[File]) -> DefinitionError:
    """The error with the source lines around its range (two lines of context around a one-line
    range, one around a longer one), for the CLI to show."""
    if err.rng is None or err.snippet:
        return err
    for f in files:
        if f.name == err.rng.file:
            lines = f.text.split("\n")
            start, end = err.rng.line, min(max(err.rng.end_line, err.rng.line), len(lines))
            if not 1 <= start <= len(lines):
                return err
            pad = 2 if start == end else 1
            lo, hi = max(start - pad, 1), min(end + pad, len(lines))
            return err.with_snippet(tuple(lines[lo - 1 : hi]), lo)
    return err
