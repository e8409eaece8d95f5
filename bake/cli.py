"""The ``bake`` command line, compatible with ``docker buildx bake``.

Uses argparse rather than typer: importing typer alone costs 150–200 ms on a 2-core machine,
more than the whole budget of a small ``bake --print`` (0.15 s). Everything below the flag
parsing is imported lazily for the same reason.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bake.errors import BakeError
    from bake.progress.events import Event


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bake",
        description="Build from a file: docker-bake.hcl, docker-bake.json or compose.yaml, as `docker buildx bake` does.",
        epilog="other commands:\n"
               "  bake du [--root DIR]                      what the cache under the bake root holds\n"
               "  bake prune [-a] [--filter until=24h] [--keep-storage SIZE]   remove cache entries\n"
               "  bake report EVENTS.jsonl -o FILE.html     a build report from a --progress=rawjson log\n"
               "(each has its own --help)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="*", metavar="TARGET", help="targets or groups to build (default: \"default\")")
    p.add_argument("-f", "--file", action="append", default=[], dest="files", metavar="FILE",
                   help="build definition file (repeatable; '-' reads stdin)")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="PATTERN.KEY=VALUE",
                   help="override target value (e.g. targetpattern.key=value)")
    p.add_argument("--var", action="append", default=[], dest="vars", metavar="NAME=VALUE", help="set a variable")
    p.add_argument("--print", action="store_true", help="print the options without building")
    p.add_argument("--list", metavar="TYPE", help="list targets or variables (targets|variables[,format=json])")
    p.add_argument("--plan", nargs="?", const="text", choices=("text", "json", "dot"),
                   help="show the merged build graph without building: shared steps, counts, critical path")
    p.add_argument("--load", action="store_true", help='shorthand for "--set=*.output=type=docker"')
    p.add_argument("--push", action="store_true", help='shorthand for "--set=*.output=type=registry"')
    p.add_argument("--no-cache", action="store_true", help="do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="always attempt to pull all referenced images")
    p.add_argument("--sbom", metavar="VALUE", help='shorthand for "--set=*.attest=type=sbom"')
    p.add_argument("--provenance", metavar="VALUE", help='shorthand for "--set=*.attest=type=provenance"')
    p.add_argument("--policy", action="append", default=[], metavar="OPTIONS",
                   help='global policy evaluation options ("[disabled=true|false][,strict=true|false][,log-level=level]")')
    p.add_argument("--call", metavar="METHOD", help="set method for evaluating build (build, check, outline, targets)")
    p.add_argument("--check", action="store_true", help='shorthand for "--call=check"')
    p.add_argument("--progress", default="auto", help="set type of progress output (auto, plain, tty, rawjson, quiet)")
    p.add_argument("--metadata-file", metavar="FILE", help="write build result metadata to a file")
    p.add_argument("--report", metavar="FILE.html",
                   help="write an HTML report of the build (timeline, cache, critical path) to FILE, also when it fails")
    p.add_argument("--allow", action="append", default=[], metavar="ENTITLEMENT", help="allow build to access specified resources")
    p.add_argument("--publish", choices=("each", "after-all"), default="each",
                   help="after-all: write and push image outputs only if every target built (with --keep-going)")
    p.add_argument("--keep-going", action="store_true",
                   help="build every target that does not depend on a failed step; report all failures at the end")
    p.add_argument("--max-parallelism", type=int, metavar="N", help="steps that run containers at once (default: 4 per core)")
    p.add_argument("--root", metavar="DIR", help="bake's state directory (default: $BAKE_ROOT or $XDG_CACHE_HOME/bake)")
    p.add_argument("--runtime", choices=("runc", "crun"), help="OCI runtime (default: crun if it works here, else runc)")
    p.add_argument("--builder", help=argparse.SUPPRESS)
    p.add_argument("--list-targets", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--list-variables", action="store_true", help=argparse.SUPPRESS)
    return p


def _flag_overrides(a: argparse.Namespace) -> list[str]:
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


def _policy_disabled(specs: list[str]) -> bool:
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


def _parse_vars(items: list[str]) -> dict[str, str]:
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


def _maintenance(argv: list[str]) -> int:
    """``bake du`` and ``bake prune``: the cache under the bake root (commands, not targets: build a
    target named like them with ``bake -f FILE prune``)."""
    from bake.app import rootless
    from bake.app.build import state_root
    from bake.app.prune import parse_duration, parse_size

    p = argparse.ArgumentParser(prog=f"bake {argv[0]}")
    p.add_argument("--root", metavar="DIR", help="bake's state directory (default: $BAKE_ROOT or $XDG_CACHE_HOME/bake)")
    if argv[0] == "prune":
        p.add_argument("--filter", action="append", default=[], metavar="until=DURATION",
                       help="remove entries not used for DURATION (e.g. until=24h)")
        p.add_argument("--keep-storage", metavar="SIZE", help="then remove the least recently used until under SIZE")
        p.add_argument("-a", "--all", action="store_true", help="remove every cache entry")
        p.add_argument("-f", "--force", action="store_true", help="accepted for buildx compatibility (never prompts)")
    a = p.parse_args(argv[1:])
    root = os.path.abspath(a.root or state_root(os.environ))
    if argv[0] == "du":
        u = rootless.run("prune:usage", (root,))  # snapshots hold files of other ids: read them as the build does
        rows = [("cache entries", str(u.entries)), ("snapshots", f"{u.snapshots} ({_bytes(u.snapshot_bytes)})"),
                ("reclaimable", _bytes(u.reclaimable_bytes)), ("image blobs", _bytes(u.content_bytes)),
                ("stored images", str(u.images)),
                ("cache mounts", _bytes(u.cachemount_bytes))]
        sys.stdout.write("".join(f"{k + ':':15s}{v}\n" for k, v in rows))
        return 0
    until = None
    for f in a.filter:
        key, _, value = f.partition("=")
        if key != "until":
            raise_usage(f"unsupported prune filter {f!r} (supported: until=DURATION)")
        until = parse_duration(value)
    if a.all:
        until = -1.0
    done = rootless.run("prune:prune", (root, until, parse_size(a.keep_storage) if a.keep_storage else None))
    sys.stdout.write(f"Removed {done.entries} cache entries and {done.snapshots} snapshots\n"
                     f"Total:\t{_bytes(done.bytes)}\n")
    return 0


def raise_usage(message: str) -> None:
    from bake.errors import UsageError

    raise UsageError(message)


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.2f}{unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n}B"


def _report(argv: list[str]) -> int:
    """``bake report EVENTS.jsonl -o FILE.html``: the HTML report of a ``--progress=rawjson`` log."""
    from bake.report import convert

    p = argparse.ArgumentParser(prog="bake report", description="Write the HTML report of a build from its "
                                "--progress=rawjson log (the page bake --report writes).")
    p.add_argument("events", metavar="EVENTS.jsonl", help="a log written by --progress=rawjson")
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="where to write the page")
    a = p.parse_args(argv[1:])
    run = convert(a.events, a.output)
    sys.stderr.write(f"wrote {a.output}: {len(run.steps)} steps, {len(run.lanes)} targets\n")
    return 0


def run(argv: Sequence[str]) -> int:
    if argv and argv[0] in ("prune", "du"):
        return _maintenance(list(argv))
    if argv and argv[0] == "report":
        return _report(list(argv))
    # --plan takes its format only as --plan=FORMAT (as buildx's value-optional flags): a bare --plan
    # followed by a target must not read the target as the format
    args = _parser().parse_args(["--plan=text" if a == "--plan" else a for a in argv])
    from bake.app import Request, located_errors, open_project
    from bake.errors import UsageError

    if args.list_targets:
        args.list = "targets"
    if args.list_variables:
        args.list = "variables"
    if args.print and args.list:
        raise UsageError("--print and --list are mutually exclusive")
    remote = [t for t in args.targets if _is_remote(t)]
    if remote:
        raise UsageError(f"remote bake definitions are not supported yet: {remote[0]}")
    from bake.hcl.bakefile.loader import decode_source

    stdin = decode_source(sys.stdin.buffer.read(), "-") if "-" in args.files else None
    req = Request(tuple(args.files), tuple(args.targets), tuple(args.overrides) + tuple(_flag_overrides(args)),
                  _parse_vars(args.vars), ".", None, stdin)
    project = open_project(req)
    with located_errors(project.files):
        if args.list:
            from bake.hcl.bakefile.printer import list_targets, list_variables

            kind, as_json = _list_kind(args.list)
            if kind == "targets":
                r = project.resolver
                sys.stdout.write(list_targets(r.blocks, r.groups, as_json))
            else:
                sys.stdout.write(list_variables(project.variables(), as_json))
            return 0
        if args.plan:
            from bake.app import graph_roots
            from bake.graph.analysis import analyze, render_dot, render_json, render_text

            analysis = analyze(graph_roots(req))
            render = {"text": render_text, "json": render_json, "dot": render_dot}[args.plan]
            sys.stdout.write(render(analysis))
            return 0
        plan = project.plan(list(args.targets), disable_policy=_policy_disabled(args.policy))
        if args.print:
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

        text, failed = call(req, method)
        sys.stdout.write(text)
        return 1 if failed else 0
    return _build(req, args)


def _build(req: object, args: argparse.Namespace) -> int:
    from bake.app import Request
    from bake.app.build import BuildOptions, build

    assert isinstance(req, Request)
    sink = _progress(args.progress)
    if args.report:
        from bake.report import Report

        sink = Report(args.report, sink)
    opts = BuildOptions(root=args.root, keep_going=args.keep_going, parallelism=args.max_parallelism,
                        allow=tuple(a for spec in args.allow for a in spec.split(",") if a),
                        metadata_file=args.metadata_file, runtime=args.runtime, publish=args.publish)
    try:
        build(req, opts, sink)
    finally:
        sink.close()
    return 0


def _progress(mode: str) -> _Renderer:
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


class _Renderer(Protocol):
    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


class _Quiet:
    """``--progress=quiet``: no progress at all (errors are still printed)."""

    def __call__(self, event: Event) -> None:
        """Every event is dropped."""

    def close(self) -> None:
        """Nothing was written."""


def _is_remote(name: str) -> bool:
    return name.startswith(("https://", "http://", "git://", "git@", "ssh://")) or name.endswith(".git")


def render_error(err: BakeError) -> str:
    """What buildx prints: the source around the error (``>>>`` marks its lines), then
    ``ERROR: file:line,col-col: Summary; Detail``."""
    from bake.errors import BuildFailed, DefinitionError, DockerfileError, StepError

    lines = []
    if isinstance(err, DefinitionError) and err.rng is not None and err.snippet:
        rng = err.rng
        lines.append(f"{rng.file}:{rng.line}")
        lines.append("-" * 20)
        for i, text in enumerate(err.snippet):
            n = err.snippet_start + i
            mark = ">>>" if rng.line <= n <= max(rng.end_line, rng.line) else "   "
            lines.append(f" {n:3d} | {mark} {text}")
        lines.append("-" * 20)
    if isinstance(err, DockerfileError) and err.text:
        lines += [f"{err.file}:{err.line}", "-" * 20, f" {err.line:3d} | >>> {err.text}", "-" * 20]
    if isinstance(err, BuildFailed):
        return "".join(render_error(e) for _, e in err.failures) + f"ERROR: {err.message}\n"
    if isinstance(err, StepError):
        lines += ["------", f" > {err.step}:", *err.output, "------", *_source_excerpt(err.source)]
        if err.targets:
            return "\n".join(lines) + f"\nERROR: target {', '.join(err.targets)}: {err.message}\n"
    lines.append(f"ERROR: {err.message}")
    return "\n".join(lines) + "\n"


def _source_excerpt(source: str) -> list[str]:
    """``Dockerfile:12-14`` → the file's lines around them, the failing ones marked, as buildx shows."""
    path, _, span = source.rpartition(":")
    first, _, last = span.partition("-")
    if not path or not first.isdigit():
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().splitlines()
    except OSError:
        return [source]
    start, end = int(first), int(last) if last.isdigit() else int(first)
    out = [source, "-" * 20]
    for n in range(max(1, start - 2), min(len(text), end + 2) + 1):
        out.append(f" {n:3d} | {'>>>' if start <= n <= end else '   '} {text[n - 1]}")
    return [*out, "-" * 20]


def main(argv: Sequence[str] | None = None) -> int:
    from bake.errors import BakeError, ungrouped

    # Deep but legitimate chains of variables and functions recurse; Python 3.11 frames are cheap.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    # A short-lived process that builds no reference cycles worth collecting: the cyclic GC
    # only costs time here (about 10% of a large --print).
    gc.disable()
    # SIGTERM stops a build as Ctrl-C does: running containers are killed, mounts taken down, the
    # scratch directory removed (SIGINT's handler is asyncio's own while a build runs).
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        with ungrouped():
            return run(sys.argv[1:] if argv is None else argv)
    except BakeError as err:
        sys.stdout.flush()
        sys.stderr.write(render_error(err))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """The ``bake`` command: ``main``, then an immediate exit. Interpreter teardown (a last garbage
    collection of a heap built with the collector off, module and thread cleanup) costs 0.1 s and
    does nothing a finished bake needs: every file it wrote is closed, the build's containers,
    mounts and scratch directory are gone by now."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)
