"""``bake [OPTIONS] [TARGET...]``: the parsed flags of a build run, and running them.

Everything below the flags is imported inside the functions: a small ``--print`` must start fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bake.app import Resolved
    from bake.progress.events import Event


@dataclass(frozen=True, slots=True)
class BuildArgs:
    """The root command's flags, as typed values (``None`` = not given)."""

    targets: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    vars: tuple[str, ...] = ()
    print_: bool = False
    list_: str | None = None
    plan: str | None = None
    load: bool = False
    push: bool = False
    no_cache: bool = False
    pull: bool = False
    sbom: str | None = None
    provenance: str | None = None
    policy: tuple[str, ...] = ()
    call: str | None = None
    check: bool = False
    progress: str = "auto"
    metadata_file: str | None = None
    report: str | None = None
    allow: tuple[str, ...] = ()
    publish: str = "each"
    keep_going: bool = False
    max_parallelism: int | None = None
    root: str | None = None
    runtime: str | None = None
    builder: str | None = None
    explain: bool = False


def run_build(args: BuildArgs) -> int:
    """List, plan, print, call a method or build, as the flags ask."""
    from bake.app import Request, Resolved, located_errors, open_project
    from bake.errors import UsageError

    if args.print_ and args.list_:
        raise UsageError("--print and --list are mutually exclusive")
    remote = [t for t in args.targets if _is_remote(t)]
    if remote:
        raise UsageError(f"remote bake definitions are not supported yet: {remote[0]}")
    from bake.hcl.bakefile.loader import decode_source

    stdin = decode_source(sys.stdin.buffer.read(), "-") if "-" in args.files else None
    req = Request(args.files, args.targets, args.overrides + tuple(_flag_overrides(args)),
                  _parse_vars(args.vars), ".", None, stdin)
    project = open_project(req)
    with located_errors(project.files):
        if args.list_:
            from bake.hcl.bakefile.printer import list_targets, list_variables

            kind, as_json = _list_kind(args.list_)
            if kind == "targets":
                r = project.resolver
                sys.stdout.write(list_targets(r.blocks, r.groups, as_json))
            else:
                sys.stdout.write(list_variables(project.variables(), as_json))
            return 0
        plan = project.plan(list(args.targets), disable_policy=_policy_disabled(args.policy))
        resolved = Resolved(req, plan, tuple(project.files))  # read once: everything below gets this
        if args.plan and args.explain:
            from bake.app.explain import planned

            sys.stdout.write("".join(f"{line}\n" for line in planned(resolved, args.root)))
            return 0
        if args.plan:
            from bake.app import graph_roots
            from bake.graph.analysis import analyze, render_dot, render_json, render_text

            analysis = analyze(graph_roots(resolved))
            render = {"text": render_text, "json": render_json, "dot": render_dot}[args.plan]
            sys.stdout.write(render(analysis))
            return 0
        if args.print_:
            from bake.hcl.bakefile.printer import render_plan

            sys.stdout.write(render_plan(plan))
            return 0
    method = "check" if args.check else args.call
    if method is None:  # no flag: the targets' own `call` attribute (buildx prints "lint" for check)
        methods = {"check" if t.call == "lint" else (t.call or "build") for t in plan.targets.values()}
        if len(methods) > 1:
            raise UsageError(f"the requested targets call different methods ({', '.join(sorted(methods))}); "
                             "build them in separate runs")
        method = methods.pop() if methods else "build"
    if method != "build":
        from bake.app import call

        text, failed = call(resolved, method)
        sys.stdout.write(text)
        return 1 if failed else 0
    return _build(resolved, args)


def _build(resolved: Resolved, args: BuildArgs) -> int:
    from bake.app.build import BuildOptions, build

    sink = progress_sink(args.progress)
    if args.report:
        from bake.report import Report

        sink = Report(args.report, sink)
    opts = BuildOptions(root=args.root, keep_going=args.keep_going, parallelism=args.max_parallelism,
                        allow=tuple(a for spec in args.allow for a in spec.split(",") if a),
                        metadata_file=args.metadata_file, runtime=args.runtime, publish=args.publish,
                        builder=args.builder, explain=args.explain)
    try:
        build(resolved, opts, sink)
    finally:
        sink.close()
    return 0


def _flag_overrides(a: BuildArgs) -> list[str]:
    """CLI shorthands become ``--set`` overrides appended after the user's, as in buildx."""
    from bake.hcl.bakefile.buildflags import canonical_attest

    out: list[str] = []
    if a.load:
        out.append("*.load=true")
    if a.push:
        out.append("*.push=true")
    if a.no_cache:
        out.append("*.no-cache=true")
    if a.pull:
        out.append("*.pull=true")
    if a.sbom is not None:
        out.append(f"*.attest={canonical_attest('sbom', a.sbom)}")
    if a.provenance is not None:
        out.append(f"*.attest={canonical_attest('provenance', a.provenance)}")
    call = "check" if a.check else a.call
    if call and call != "build":
        out.append(f"*.call={'lint' if call == 'check' else call}")
    out.extend(f"*.policy+={p}" for p in a.policy if not _policy_disabled(a.policy))
    return out


def _policy_disabled(specs: tuple[str, ...]) -> bool:
    """Whether ``--policy disabled=true`` was given; checks the flag values as buildx does."""
    from bake.errors import UsageError
    from bake.hcl.bakefile.buildflags import parse_policy
    from bake.hcl.engine.strconv import FlagError

    for spec in specs:
        try:
            cfg = parse_policy(spec)
        except FlagError as err:
            raise UsageError(str(err)) from None
        if cfg["Files"]:
            raise UsageError("--policy does not accept filename; define policy files in the bake definition")
        if cfg["Reset"]:
            raise UsageError("--policy does not accept reset; define policy composition in the bake definition")
        if cfg["Disabled"]:
            if cfg["Strict"] is not None or cfg["LogLevel"] is not None or len(specs) > 1:
                raise UsageError("disabled policy cannot be combined with other policy flags")
            return True
    return False


def _parse_vars(items: tuple[str, ...]) -> dict[str, str]:
    from bake.errors import UsageError

    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise UsageError(f'invalid variable "{item}", expected key=value')
        if not k:
            raise UsageError(f'invalid variable "{item}", key is empty')
        out[k] = v
    return out


def _list_kind(spec: str) -> tuple[str, bool]:
    from bake.errors import UsageError

    kind, fmt = "", "table"
    for part in spec.split(","):
        k, sep, v = part.partition("=")
        if not sep:
            kind = part
        elif k == "type":
            kind = v
        elif k == "format":
            fmt = v
    if kind not in ("targets", "variables"):
        raise UsageError(f'invalid list type "{kind}"')
    if fmt not in ("table", "json"):
        raise UsageError(f'invalid list format "{fmt}"')
    return kind, fmt == "json"


def _is_remote(name: str) -> bool:
    return name.startswith(("https://", "http://", "git://", "git@", "ssh://")) or name.endswith(".git")


def progress_sink(mode: str) -> Renderer:
    """The renderer ``--progress=MODE`` names (``auto``: tty on a terminal, else plain)."""
    from bake.errors import UsageError
    from bake.progress.plain import PlainProgress
    from bake.progress.rawjson import RawJSONProgress

    if mode == "auto":
        mode = "tty" if sys.stderr.isatty() and os.environ.get("TERM") != "dumb" else "plain"
    if mode == "tty":
        from bake.progress.tty import TTYProgress

        return TTYProgress(sys.stderr)
    if mode == "plain":
        return PlainProgress(sys.stderr)
    if mode == "rawjson":
        return RawJSONProgress(sys.stdout)
    if mode == "quiet":
        return _Quiet()
    raise UsageError(f"invalid progress mode {mode!r} (auto, plain, tty, rawjson, quiet)")


class Renderer(Protocol):
    """A progress sink: called with every event, closed once at the end."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


class _Quiet:
    """``--progress=quiet``: no progress at all (errors are still printed)."""

    def __call__(self, event: Event) -> None:
        """Every event is dropped."""

    def close(self) -> None:
        """Nothing was written."""
