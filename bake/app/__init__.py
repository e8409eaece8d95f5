"""Composition root: turns command-line intent into calls on the layers below."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bake._record import record
from bake.errors import DefinitionError, UsageError
from bake.hcl.bakefile.loader import File, Project, attach_snippet, find_files
from bake.model import Plan, Target, build_platforms, clean_context, local_platform, ram_in_bytes

if TYPE_CHECKING:
    from bake.content.imageconfig import ImageConfig
    from bake.dockerfile.config import ImageConfigResolver
    from bake.dockerfile.convert import Converted
    from bake.dockerfile.lint import ImageLookup
    from bake.graph.analysis import Root
    from bake.graph.state import State


@record
class Request:
    """What the user asked for, already parsed from flags."""

    files: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    variables: Mapping[str, str] | None = None
    cwd: str = "."
    env: Mapping[str, str] | None = None
    stdin: str | None = None


@contextmanager
def located_errors(files: list[File]) -> Iterator[None]:
    """Definition errors get their source excerpt; runaway recursion becomes a definition error too."""
    try:
        yield
    except DefinitionError as err:
        raise attach_snippet(err, files) from None
    except RecursionError:
        raise DefinitionError(
            "Definition too deeply nested", "expressions, variables or functions refer to each other too deeply"
        ) from None


def open_project(req: Request) -> Project:
    env = dict(os.environ if req.env is None else req.env)
    files: list[File] = find_files(list(req.files) or None, req.cwd, env, req.stdin)
    with located_errors(files):
        return Project(files, env, req.variables or {}, list(req.overrides), req.cwd)


@record
class Resolved:
    """A request read once: the plan it resolves to and the bake files it came from (errors found
    later, converting a target, are located in them). Made by the CLI or the Python API and
    passed down, as buildx passes ``ReadTargets``' result to the build: nothing below opens the
    project or plans again."""

    request: Request
    plan: Plan
    files: tuple[File, ...] = ()

    @contextmanager
    def located(self) -> Iterator[None]:
        """Definition errors raised inside get their excerpt of these files."""
        with located_errors(list(self.files)):
            yield


def resolve(req: Request, *, disable_policy: bool = False) -> Resolved:
    """Open the bake files of ``req`` and resolve the requested targets (``--print``'s plan)."""
    project = open_project(req)
    with located_errors(project.files):
        return Resolved(req, project.plan(list(req.targets), disable_policy=disable_policy), tuple(project.files))


def plan(req: Request) -> Plan:
    return resolve(req).plan


def graph_roots(resolved: Resolved) -> list[Root]:
    """Every requested target on each of its platforms, converted to one merged graph.

    Offline: base images' configs come from what earlier builds recorded under the bake root, and
    images never resolved count as having empty configs — enough to see the graph's shape and what
    is shared, never a reason to ask a registry."""
    from bake.graph.analysis import Root

    req, plan = resolved.request, resolved.plan
    converter = TargetConverter(plan, req.cwd, local_platform(), _recorded_configs(req))
    roots: list[Root] = []
    with resolved.located():
        for name, target in plan.targets.items():
            for platform in build_platforms(target.platforms, local_platform()):
                roots.append(Root(name, platform, converter.state(name, platform).vertex))
    return roots


def _recorded_configs(req: Request) -> ImageConfigResolver:
    """Configs recorded under the bake root, empty for the rest (nothing is created or fetched)."""
    from bake.content.imageconfig import ImageConfig
    from bake.content.stateroot import StateRoot
    from bake.dockerfile.config import EmptyConfigs

    layout = StateRoot.locate(dict(os.environ if req.env is None else req.env))
    root = layout.path
    if not os.path.isdir(layout.snapshots):
        return EmptyConfigs()
    from bake.content.store import ContentStore
    from bake.worker.imageconfigs import NotRecorded, RegistryConfigs
    from bake.worker.images import ImageStore
    from bake.worker.snapshot import Snapshotter

    images = ImageStore(root, ContentStore(layout.content), Snapshotter(root))
    from bake.app.build import registry_client

    recorded = RegistryConfigs(images, registry_client, offline=True)  # offline: the client is never made

    class Recorded:
        def resolve(self, ref: str, platform: str) -> ImageConfig:
            try:
                return recorded.resolve(ref, platform)
            except NotRecorded:
                return ImageConfig()

    return Recorded()


class TargetConverter:
    """Converts bake targets, memoised per (target, platform) so ``target:`` links reuse graphs."""

    def __init__(self, plan: Plan, cwd: str, build_platform: str, resolver: ImageConfigResolver) -> None:
        self.plan = plan
        self.cwd = cwd
        self.build_platform = build_platform
        self.resolver = resolver
        self.done: dict[tuple[str, str], Converted] = {}

    def state(self, name: str, platform: str) -> State:
        return self.converted(name, platform).state

    def converted(self, name: str, platform: str) -> Converted:
        key = (name, platform)
        if key not in self.done:
            self.done[key] = self._convert(name, platform)
        return self.done[key]

    def _convert(self, name: str, platform: str) -> Converted:
        from bake.dockerfile.convert import BuildInputs, convert

        t = self.plan.targets[name]
        context = clean_context(t.context or ".")
        path, text = _dockerfile(t, self.cwd)
        contexts = {k: self._context(v, platform) for k, v in (t.contexts or {}).items()}
        configs = {k: c for k, v in (t.contexts or {}).items() if (c := self._config(v, platform)) is not None}
        inputs = BuildInputs(
            platform=platform, build_platform=self.build_platform, target=t.target,
            build_args={k: v for k, v in (t.args or {}).items() if v is not None}, context=context,
            dockerignore=_dockerignore(os.path.join(self.cwd, context), path), named_contexts=contexts,
            named_configs=configs,
            network=t.network, no_cache=bool(t.no_cache), no_cache_filter=t.no_cache_filter or (),
            extra_hosts=tuple(f"{h}={ip}" for h, ip in sorted((t.extra_hosts or {}).items())),
            shm_size=ram_in_bytes(t.shm_size) if t.shm_size else None, ulimits=t.ulimits or (),
        )
        return convert(text, inputs, self.resolver, dockerfile_name(t, path, self.cwd))

    def _config(self, value: str, platform: str) -> ImageConfig | None:
        """The image config a context brings (a target's result, an image's); None for files."""
        from bake.dockerfile.convert import normalize_ref

        if value.startswith("target:"):
            return self.converted(value[len("target:"):], platform).config
        if value.startswith("docker-image://"):
            return self.resolver.resolve(normalize_ref(value[len("docker-image://"):]), platform)
        return None

    def _context(self, value: str, platform: str) -> State:
        from bake.dockerfile.convert import normalize_ref
        from bake.graph.ops import SourceOp, Vertex
        from bake.graph.state import State, image, local

        if value.startswith("target:"):
            return self.state(value[len("target:"):], platform)
        if value.startswith("docker-image://"):
            ref = normalize_ref(value[len("docker-image://"):])
            state = image(ref, platform)
            config = self.resolver.resolve(ref, platform)
            for item in config.env:  # as a FROM of that image: its ENV, WORKDIR and USER apply
                k, _, v = item.partition("=")
                state = state.with_env(k, v)
            return state.with_cwd(config.workdir or "/").with_user(config.user)
        if "://" in value or value.startswith("git@"):
            return State(Vertex(SourceOp(value), (), None, value))
        return local(clean_context(value))


def _read(path: str) -> str:
    from bake.dockerfile.parser import decode

    try:
        with open(path, "rb") as f:
            return decode(f.read(), os.path.normpath(path))
    except OSError as err:
        raise UsageError(f"failed to read dockerfile: open {os.path.normpath(path)}: {err.strerror}") from None


def _dockerignore(context_dir: str, dockerfile: str) -> tuple[str, ...]:
    """Patterns of ``<Dockerfile>.dockerignore`` next to the Dockerfile, else the context's ``.dockerignore``."""
    from bake.worker.dockerignore import parse_dockerignore

    for path in (dockerfile + ".dockerignore", os.path.join(context_dir, ".dockerignore")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return tuple(parse_dockerignore(f.read()))
    return ()


def call(resolved: Resolved, method: str) -> tuple[str, bool]:
    """``--call=check|outline|targets`` for every requested target: (text, failed).

    A check that finds warnings (or an error) fails, as ``docker buildx`` exits 1 then."""
    from bake.dockerfile.calls import call_check, call_outline, call_targets

    req, plan = resolved.request, resolved.plan
    parts: list[str] = []
    failed = False
    for name, t in plan.targets.items():
        path, text = _dockerfile(t, req.cwd)
        shown = dockerfile_name(t, path, req.cwd)
        if len(plan.targets) > 1:
            parts.append(f"target {name}\n")
        if method == "check":  # buildx exits 1 when the check finds warnings or fails
            out, _, found = call_check(text, shown, _check_images(req))
            failed = failed or found
        elif method == "outline":
            out = call_outline(text, shown, t.target, {k: v for k, v in (t.args or {}).items() if v is not None})
        elif method == "targets":
            out = call_targets(text, shown, t.target)
        else:
            raise UsageError(f"unknown call method: {method} (expected build, check, outline or targets)")
        parts.append(out)
    return "\n".join(parts), failed


def _check_images(req: Request) -> ImageLookup:
    """Base images for ``--call=check``: the configs earlier builds recorded under the bake root; the
    rest are unknown (no registry is asked), so the rules that need them stay silent there."""
    from bake.content.imageconfig import ImageConfig
    from bake.dockerfile.lint import ImageInfo

    configs = _recorded_configs(req)

    def lookup(ref: str, platform: str) -> ImageInfo | None:
        config = configs.resolve(ref, platform)
        if config == ImageConfig():
            return None
        os_name, _, arch = platform.partition("/")
        return ImageInfo(env=config.env, shell=config.shell, os=os_name, architecture=arch.split("/")[0])

    return lookup


def dockerfile_name(t: Target, path: str, cwd: str) -> str:
    """How locations name a target's Dockerfile: its path from ``cwd``; "Dockerfile" for an inline
    one, as buildx names it (its lines come with the error: ``StepError.text``)."""
    return os.path.relpath(path, cwd) if t.dockerfile_inline is None else "Dockerfile"


def _dockerfile(t: Target, cwd: str) -> tuple[str, str]:
    """(path, text) of a target's Dockerfile: inline, ``cwd://``, absolute, or relative to the context."""
    context = clean_context(t.context or ".")
    dockerfile = t.dockerfile or "Dockerfile"
    if dockerfile.startswith("cwd://"):
        path = os.path.join(cwd, dockerfile[len("cwd://"):])
    else:
        path = dockerfile if os.path.isabs(dockerfile) else os.path.join(cwd, context, dockerfile)
    return path, t.dockerfile_inline if t.dockerfile_inline is not None else _read(path)
