"""The command tree, declared with typer: parsing only.

``bake [OPTIONS] [TARGET...]`` builds. A first word that names a command (``du``, ``prune``,
``report``) runs that command instead; a target named like one is built by putting any option
first: ``bake -f docker-bake.hcl prune``, as with buildx.

Every callback returns an *action* (a function of no arguments returning the exit code) that
``bake.cli.run`` calls after typer is done, so errors, exit codes and broken pipes stay the CLI's
own and typer never sees a ``BakeError``. Only typer is imported at module level: the build's
modules load when its action runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import click
import typer
from typer.core import TyperCommand, TyperGroup

from bake.cli import maintenance
from bake.cli.build import BuildArgs, run_build

Action = Callable[[], int]

#: Flags whose value is optional take it only after "=" (``--plan=json``), as buildx's do: bare, they
#: get this value, so the word after them stays a target (``bake --plan production``).
OPTIONAL_VALUES = {"--plan": "text"}

_CONTEXT = {"help_option_names": ["-h", "--help"]}
_ROOT_HELP = "bake's state directory (default: $BAKE_ROOT or $XDG_CACHE_HOME/bake)"


class CommandLineError(Exception):
    """The parser refused the command line (exit code 2, as for any usage error of the parser)."""

    def __init__(self, message: str, command_path: str, exit_code: int) -> None:
        super().__init__(message)
        self.message, self.command_path, self.exit_code = message, command_path, exit_code


def parse(argv: list[str]) -> Action | int:
    """The action ``argv`` asks for, or the exit code of what typer already did (``--help``,
    ``--show-completion``, ``--install-completion``)."""
    command = click_command()
    try:
        result: Action | int = command.main(argv, prog_name="bake", standalone_mode=False)
    except click.ClickException as err:
        ctx = getattr(err, "ctx", None)
        raise CommandLineError(err.format_message(), ctx.command_path if ctx else "bake", err.exit_code) from None
    except click.Abort:
        return 1
    return result


@functools.cache
def click_command() -> click.Command:
    """The click command typer makes of ``app`` (made once: a build server makes it before forking)."""
    return typer.main.get_command(app)


def with_optional_values(args: list[str]) -> list[str]:
    """``--plan`` → ``--plan=text`` (see ``OPTIONAL_VALUES``), up to a ``--`` that ends the flags."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(f"{arg}={OPTIONAL_VALUES[arg]}" if arg in OPTIONAL_VALUES else arg)
    return out


class _BakeGroup(TyperGroup):
    """A group whose own arguments are the build's targets: a command is recognised only as the first
    word; anything else, flags after targets included (pflag's interspersed habit), is the build's."""

    allow_interspersed_args = True

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            click.Command.parse_args(self, ctx, [])  # the build's flags at their defaults
            ctx._protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        return click.Command.parse_args(self, ctx, with_optional_values(args))


class _CommandContext(typer.Context):
    @property
    def command_path(self) -> str:
        """``bake prune``: the build's TARGET argument is no part of a command's path."""
        return f"{self.parent.command_path} {self.info_name}" if self.parent else self.info_name or ""


class _Command(TyperCommand):
    context_class = _CommandContext


def _complete_targets(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of TARGET: the targets and groups of the bake files in use (none on any error)."""
    from bake.app import Request, open_project

    try:
        r = open_project(Request(tuple(ctx.params.get("files") or ()))).resolver
        names = {*r.blocks, *r.groups}
    except Exception:  # a half-typed command line or a broken file completes to nothing
        return []
    return sorted(n for n in names if n.startswith(incomplete) and not n.startswith("_"))


app = typer.Typer(
    cls=_BakeGroup,
    name="bake",
    invoke_without_command=True,
    context_settings=_CONTEXT,
    subcommand_metavar="| bake COMMAND [ARGS]...",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Build from a file: docker-bake.hcl, docker-bake.json or compose.yaml, as docker buildx bake"
         " does.",
    epilog="Commands run instead of a build when they come first: bake du, bake prune,"
           " bake report (each has its own --help). To build a target named like one, put a"
           " flag first: bake -f docker-bake.hcl prune.",
)


@app.callback()
def _bake(
    ctx: typer.Context,
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="TARGET", show_default=False, autocompletion=_complete_targets,
        help='targets or groups to build (default: "default")')] = None,
    files: Annotated[list[str] | None, typer.Option(
        "-f", "--file", metavar="FILE", show_default=False,
        help="build definition file (repeatable; '-' reads stdin)")] = None,
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", metavar="PATTERN.KEY=VALUE", show_default=False,
        help="override target value (e.g. targetpattern.key=value)")] = None,
    variables: Annotated[list[str] | None, typer.Option(
        "--var", metavar="NAME=VALUE", show_default=False, help="set a variable")] = None,
    print_: Annotated[bool, typer.Option("--print", help="print the options without building")] = False,
    list_: Annotated[str | None, typer.Option(
        "--list", metavar="TYPE", help="list targets or variables (targets|variables[,format=json])")] = None,
    plan: Annotated[str | None, typer.Option(
        "--plan", metavar="[=text|json|dot]", click_type=click.Choice(["text", "json", "dot"]),
        help="show the merged build graph without building: shared steps, counts, critical path"
             " (a format only after '=')")] = None,
    load: Annotated[bool, typer.Option("--load", help='shorthand for "--set=*.output=type=docker"')] = False,
    push: Annotated[bool, typer.Option("--push", help='shorthand for "--set=*.output=type=registry"')] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not use cache when building the image")] = False,
    pull: Annotated[bool, typer.Option("--pull", help="always attempt to pull all referenced images")] = False,
    sbom: Annotated[str | None, typer.Option(
        "--sbom", metavar="VALUE", help='shorthand for "--set=*.attest=type=sbom"')] = None,
    provenance: Annotated[str | None, typer.Option(
        "--provenance", metavar="VALUE", help='shorthand for "--set=*.attest=type=provenance"')] = None,
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", metavar="OPTIONS", show_default=False,
        help='global policy evaluation options ("[disabled=true|false][,strict=true|false]'
             '[,log-level=level]")')] = None,
    call: Annotated[str | None, typer.Option(
        "--call", metavar="METHOD", help="set method for evaluating build (build, check, outline, targets)")] = None,
    check: Annotated[bool, typer.Option("--check", help='shorthand for "--call=check"')] = False,
    progress: Annotated[str, typer.Option(
        "--progress", metavar="MODE", help="set type of progress output (auto, plain, tty, rawjson, quiet)")] = "auto",
    metadata_file: Annotated[str | None, typer.Option(
        "--metadata-file", metavar="FILE", help="write build result metadata to a file")] = None,
    report: Annotated[str | None, typer.Option(
        "--report", metavar="FILE.html",
        help="write an HTML report of the build (timeline, cache, critical path) to FILE, also when it fails")] = None,
    allow: Annotated[list[str] | None, typer.Option(
        "--allow", metavar="ENTITLEMENT", show_default=False,
        help="allow build to access specified resources")] = None,
    publish: Annotated[str, typer.Option(
        "--publish", click_type=click.Choice(["each", "after-all"]), help="after-all: write and push image outputs only if every target built (with --keep-going)")
    ] = "each",
    keep_going: Annotated[bool, typer.Option(
        "--keep-going",
        help="build every target that does not depend on a failed step; report all failures at the end")] = False,
    max_parallelism: Annotated[int | None, typer.Option(
        "--max-parallelism", metavar="N", help="steps that run containers at once (default: 4 per core)")] = None,
    root: Annotated[str | None, typer.Option("--root", metavar="DIR", help=_ROOT_HELP)] = None,
    runtime: Annotated[str | None, typer.Option(
        "--runtime", click_type=click.Choice(["runc", "crun"]), help="OCI runtime (default: crun if it works here, else runc)")] = None,
    builder: Annotated[str | None, typer.Option(
        "--builder", metavar="NAME",
        help="override the configured builder instance (default: $BUILDX_BUILDER, else bake's own worker)")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="say why each step that runs does, against the target's last build on this root")] = False,
    list_targets: Annotated[bool, typer.Option("--list-targets", hidden=True)] = False,
    list_variables: Annotated[bool, typer.Option("--list-variables", hidden=True)] = False,
) -> Action | None:
    if ctx.invoked_subcommand is not None:
        return None  # the command's own action runs
    if list_targets:
        list_ = "targets"
    if list_variables:
        list_ = "variables"
    return functools.partial(run_build, BuildArgs(
        targets=tuple(targets or ()), files=tuple(files or ()), overrides=tuple(overrides or ()),
        vars=tuple(variables or ()), print_=print_, list_=list_, plan=plan, load=load, push=push,
        no_cache=no_cache, pull=pull, sbom=sbom, provenance=provenance, policy=tuple(policy or ()), call=call,
        check=check, progress=progress, metadata_file=metadata_file, report=report, allow=tuple(allow or ()),
        publish=publish, keep_going=keep_going, max_parallelism=max_parallelism, root=root, runtime=runtime,
        builder=builder, explain=explain))


@app.command("du", cls=_Command, context_settings=_CONTEXT)
def _du(root: Annotated[str | None, typer.Option("--root", metavar="DIR", help=_ROOT_HELP)] = None) -> Action:
    """What the cache under the bake root holds."""
    return functools.partial(maintenance.du, root)


@app.command("prune", cls=_Command, context_settings=_CONTEXT)
def _prune(
    filters: Annotated[list[str] | None, typer.Option(
        "--filter", metavar="until=DURATION", show_default=False,
        help="remove entries not used for DURATION (e.g. until=24h)")] = None,
    keep_storage: Annotated[str | None, typer.Option(
        "--keep-storage", metavar="SIZE", help="then remove the least recently used until under SIZE")] = None,
    everything: Annotated[bool, typer.Option("-a", "--all", help="remove every cache entry")] = False,
    force: Annotated[bool, typer.Option(
        "-f", "--force", help="accepted for buildx compatibility (never prompts)")] = False,
    root: Annotated[str | None, typer.Option("--root", metavar="DIR", help=_ROOT_HELP)] = None,
) -> Action:
    """Remove cache entries.

    All of them with -a; by age with --filter until=24h; then down to --keep-storage.
    """
    return functools.partial(maintenance.prune, root, tuple(filters or ()), keep_storage, everything)


@app.command("report", cls=_Command, context_settings=_CONTEXT)
def _report(
    events: Annotated[str, typer.Argument(metavar="EVENTS.jsonl", help="a log written by --progress=rawjson")],
    output: Annotated[str, typer.Option("-o", "--output", metavar="FILE.html", help="where to write the page")],
) -> Action:
    """Write a build's HTML report from its log.

    The page bake --report writes, from a log written with --progress=rawjson.
    """
    return functools.partial(maintenance.report, events, output)


@app.command("explain", cls=_Command, context_settings=_CONTEXT)
def _explain(
    targets: Annotated[list[str] | None, typer.Argument(metavar="[TARGET...]", show_default=False,
                                                        help="targets to explain (default: every recorded one)")] = None,
    root: Annotated[str | None, typer.Option("--root", metavar="DIR", help=_ROOT_HELP)] = None,
) -> Action:
    """Why the steps of the last build ran.

    For each target's last build on this root: every step that ran, and why (the cause is traced to
    the step where it began).
    """
    return functools.partial(maintenance.explain, root, tuple(targets or ()))


@app.command("builders", cls=_Command, context_settings=_CONTEXT)
def _builders() -> Action:
    """The builders bake can use, with their nodes, status and platforms.

    The embedded worker and the builders in buildx's store ($DOCKER_CONFIG/buildx/instances), as
    docker buildx ls shows them; * marks the one a build uses (--builder, $BUILDX_BUILDER).
    """
    return maintenance.builders
