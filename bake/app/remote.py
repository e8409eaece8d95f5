"""``bake --builder NAME`` on BuildKit daemons (buildx's ``remote`` driver): the same plan and the
same converted graph as on the embedded worker, solved by ``buildkitd`` over its control API.

Before anything builds: the builder is read from buildx's store, every node is asked for its
version and platforms (an unreachable daemon is an error naming builder and node), each target's
platform is given to a node that serves it (``builders.route``: several nodes share a build by
platform), and what cannot be sent is refused. Then one solve per target and platform, all
concurrently across the nodes (BuildKit runs a step shared by several targets of one node once);
progress from every node merges into bake's one stream. How one solve runs: ``remote_solve``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bake._record import replace
from bake.app import Resolved, TargetConverter
from bake.app.build import BuildOptions, write_metadata
from bake.app.outputs import Root, TargetResult
from bake.app.remote_solve import CACHE_TYPES
from bake.app.roots import converted_roots, labels
from bake.buildkit import BuilderError, NotSupportedRemote
from bake.buildkit.builders import Builder, Node, check, load, route, selected_name, tls
from bake.buildkit.exporters import TYPES, pushes
from bake.errors import BuildFailed, ungrouped
from bake.exporter.specs import plan_specs
from bake.model import Plan, Target, build_platforms, local_platform
from bake.progress.events import Noted, Planned, Sink

if TYPE_CHECKING:
    from anyio import CancelScope

    from bake.app.remote_solve import Job, Sources
    from bake.buildkit.control import Control, DaemonInfo
    from bake.worker.imageconfigs import RegistryConfigs


def selected(flag: str | None, env: Mapping[str, str] | None) -> Builder | None:
    """The BuildKit builder asked for (``--builder``, ``BUILDX_BUILDER``), or None: the embedded worker."""
    env = dict(os.environ if env is None else env)
    name = selected_name(flag, env)
    return None if name is None else load(name, env)


def build(resolved: Resolved, opts: BuildOptions, builder: Builder, sink: Sink) -> list[TargetResult]:
    nodes = check(builder)
    plan = resolved.plan
    plan_specs(plan)  # outputs and caches typed and checked as for the embedded worker, before anything builds
    _refuse(plan, opts, builder)
    import anyio

    results: list[TargetResult] = anyio.run(_run, resolved, opts, builder, nodes, sink)
    if opts.metadata_file:
        write_metadata(opts.metadata_file, results)
    failures = tuple((r.target, r.error) for r in results if r.error is not None)
    if len(failures) == 1 or (failures and not opts.keep_going):
        err = failures[0][1]
        assert err is not None
        raise err
    if failures:
        raise BuildFailed(tuple((t, e) for t, e in failures if e is not None))
    return results


def several(t: Target) -> bool:
    """Whether ``t`` builds for several platforms (an entry ``a,b`` is two)."""
    return len(build_platforms(t.platforms, local_platform())) > 1


def _refuse(plan: Plan, opts: BuildOptions, builder: Builder) -> None:
    """What cannot be sent to a BuildKit builder yet, refused before anything builds."""
    def no(what: str) -> None:
        raise NotSupportedRemote(what, builder.name)

    for name, t in plan.targets.items():
        for out in t.output or ():
            if out.type not in TYPES:
                no(f"target {name}: output type={out.type} (supported: {', '.join(TYPES)})")
            if out.type in ("image", "docker") and several(t) and not pushes(out.type, dict(out.attrs)):
                no(f"target {name}: an image output (type={out.type}) of several platforms that is not pushed")
        if len(t.output or ()) > 1 and builder.driver != "remote":
            no(f"target {name}: several outputs (BuildKit before v0.13 exports once)")
        for what, entries, types in (("cache-from", t.cache_from, CACHE_TYPES[:1]), ("cache-to", t.cache_to, CACHE_TYPES)):
            for entry in entries or ():
                if entry.type not in types:
                    no(f"target {name}: {what} type={entry.type} (supported: {', '.join(types)})")
                if what == "cache-to" and several(t):
                    no(f"target {name}: cache-to of several platforms")


async def _connect(controls: list[Control]) -> list[DaemonInfo]:
    """Every node's version and platforms, asked concurrently; the first failure is the error."""
    import anyio

    infos: dict[int, DaemonInfo] = {}

    async def ask(i: int) -> None:
        infos[i] = await controls[i].info()

    with ungrouped(prefer=BuilderError):
        async with anyio.create_task_group() as tg:
            for i in range(len(controls)):
                tg.start_soon(ask, i)
    return [infos[i] for i in range(len(controls))]


async def _run(resolved: Resolved, opts: BuildOptions, builder: Builder, nodes: tuple[Node, ...],
               sink: Sink) -> list[TargetResult]:
    import contextlib

    import anyio

    req, plan = resolved.request, resolved.plan

    from bake.app.remote_solve import Job, Sources
    from bake.buildkit.control import Control
    from bake.buildkit.session import Session
    from bake.buildkit.session.filesync import Tree

    async with contextlib.AsyncExitStack() as stack:
        from bake.buildkit.drivers import dialed

        endpoints = [await stack.enter_async_context(dialed(builder, n)) for n in nodes]
        controls = [Control(e, builder.name, n.name, tls(builder, n)) for e, n in zip(endpoints, nodes, strict=True)]
        for c in controls:
            stack.push_async_callback(c.__aexit__, None, None, None)
        infos = await _connect(controls)
        served = [node.platforms or info.platforms for node, info in zip(nodes, infos, strict=True)]
        for node, info in zip(nodes, infos, strict=True):
            sink(Noted(f"builder {builder.name} ({builder.driver}): node {node.name} at {node.endpoint}, "
                       f"BuildKit {info.version or '(version not reported)'}, {', '.join(info.platforms) or 'no platforms'}", time.time()))
        host = served[0][0] if served[0] else local_platform()
        roots, pins = await anyio.to_thread.run_sync(_convert, resolved, host)
        where = [_node_of(r, served, builder, nodes) for r in roots]
        from bake.buildkit.drivers import refuse_missing_ops

        for r, n in zip(roots, where, strict=True):  # an op the node's BuildKit lacks: refused before sending
            refuse_missing_ops(builder, nodes[n], infos[n].version, r.vertex)
        env = dict(os.environ if req.env is None else req.env)
        attests = [_attests(plan, r, env, builder, infos[n].version) for r, n in zip(roots, where, strict=True)]
        named = labels(roots)
        if len(nodes) > 1:
            for label, n in zip(named, where, strict=True):
                sink(Noted(f"{label}: node {nodes[n].name}", time.time()))
        sink(Planned(tuple(named), 0, time.time()))
        sources = stack.enter_context(Sources.open(plan, env, req.cwd))
        trees: dict[str, Tree] = {}
        sessions: dict[int, Session] = {}
        for n in sorted(set(where)):  # one context session per node that builds something
            sessions[n] = await stack.enter_async_context(
                Session(controls[n], trees=trees, lister=lister, name="bake-contexts"))
        jobs = [Job(controls[n], sessions[n].id, trees, plan, req.cwd, env, label, root,
                    several(plan.targets[root.target]), builder.driver, attests=a, pins=pins)
                for label, root, n, a in zip(named, roots, where, attests, strict=True)]
        if opts.publish == "after-all":
            # build everything first, exporting nothing; only when every target built, the same
            # solves again with their outputs (each step cached by then): nothing is published otherwise
            built = await _solve_all([replace(j, export=False) for j in jobs], sources, sink, opts.keep_going)
            if any(r.error is not None for r in built):
                sink(Noted("publish after-all: a target failed, nothing exported", time.time(), "warning"))
                return _per_target(plan, roots, built)
        solved = await _solve_all(jobs, sources, sink, opts.keep_going)
        from bake.app.remote_index import push_indexes
        from bake.app.remote_merge import merge_parts

        results = merge_parts(plan, _per_target(plan, roots, solved), req.cwd)
        return await push_indexes(plan, solved, results, sink)


async def _solve_all(jobs: list[Job], sources: Sources, sink: Sink, keep_going: bool) -> list[TargetResult]:
    """Every job solved at once; each one's failure is its own result. Without ``keep_going`` the
    first failure cancels the other solves (the daemon stops their steps, nothing more is
    exported), as on the embedded worker; a cancelled job's result carries that failure."""
    import anyio

    solved: dict[int, TargetResult] = {}
    async with anyio.create_task_group() as tg:
        for k, job in enumerate(jobs):
            tg.start_soon(_one, job, sources, sink, solved, k, None if keep_going else tg.cancel_scope)
    first = next((r.error for r in solved.values() if r.error is not None), None)
    return [solved[k] if k in solved else
            TargetResult(j.root.target, (j.root.platform,), (), (), first, 0, 0) for k, j in enumerate(jobs)]


async def _one(job: Job, sources: Sources, sink: Sink, solved: dict[int, TargetResult], k: int,
               stop: CancelScope | None) -> None:
    from bake.app.remote_solve import solve

    solved[k] = result = await solve(job, sources, sink)
    if result.error is not None and stop is not None:
        stop.cancel()


def _attests(plan: Plan, root: Root, env: Mapping[str, str], builder: Builder, version: str) -> tuple[tuple[str, str], ...]:
    """The attestations one solve asks for, as buildx asks for them of that node (refused before
    anything is sent where the node cannot make them)."""
    from bake.buildkit.attests import per_platform, requested

    t = plan.targets[root.target]
    asked = requested(root.target, t.attest, env, builder.driver, version, builder.name)
    if several(t):
        asked = per_platform(asked, [o.type for o in t.output or ()])
    return tuple(sorted(asked.items()))


def _node_of(root: Root, served: list[tuple[str, ...]], builder: Builder, nodes: tuple[Node, ...]) -> int:
    i = route(root.platform, served)
    if i is None:
        have = "; ".join(f"{n.name}: {', '.join(p) or 'none'}" for n, p in zip(nodes, served, strict=True))
        raise BuilderError(f"target {root.target}: no node serves platform {root.platform} ({have})", builder.name)
    return i


def _convert(resolved: Resolved, host: str) -> tuple[list[Root], dict[tuple[str, str], str]]:
    """Every target converted as for the embedded worker, and the digest each image source is
    pinned to. Base images' configs come from their registries through bake's client (and its
    records under the bake root; ``--pull`` asks again), never from bake's own image store, which the
    daemon cannot see; each image is pinned to the digest whose config was used, so a tag that moved
    since cannot give the daemon other layers. Images read only for files (``COPY --from=<image>``)
    are resolved and pinned too, as BuildKit's frontend does."""
    from bake.app.build import registry_client
    from bake.content.stateroot import StateRoot
    from bake.content.store import ContentStore
    from bake.worker.imageconfigs import RegistryConfigs
    from bake.worker.images import ImageStore
    from bake.worker.snapshot import Snapshotter

    req, plan = resolved.request, resolved.plan
    root = StateRoot.locate(dict(os.environ if req.env is None else req.env)).path
    images = ImageStore(root, ContentStore(os.path.join(root, "content")), Snapshotter(root))
    configs = RegistryConfigs(images, registry_client, refresh=any(t.pull for t in plan.targets.values()), own=False)
    with resolved.located():
        roots = converted_roots(plan, TargetConverter(plan, req.cwd, host, configs), host)
    return roots, pins(roots, configs)


def pins(roots: list[Root], configs: RegistryConfigs) -> dict[tuple[str, str], str]:
    """(reference, platform) → digest of every image source below the roots: those the conversion
    resolved for their configs, and the rest (``COPY --from=<image>``, mounts) resolved here."""
    for key in _images(roots):
        if key not in configs.pins:
            configs.resolve(*key)
    return configs.pins


def _images(roots: list[Root]) -> list[tuple[str, str]]:
    """(reference, platform) of every image source below the roots whose reference names no digest."""
    from bake.graph.ops import SourceOp, each_vertex

    found: dict[tuple[str, str], None] = {}
    for v in each_vertex(r.vertex for r in roots if r.vertex is not None):
        scheme, _, ref = v.op.identifier.partition("://") if isinstance(v.op, SourceOp) else ("", "", "")
        if scheme == "docker-image" and "@" not in ref and v.platform:
            found[(ref, v.platform)] = None
    return list(found)


def lister(path: str, excludes: tuple[str, ...]) -> list[str]:
    """The files of a local context the session sends (``.dockerignore`` patterns left out)."""
    from bake.worker.context import files

    return files(path, excludes)


def _per_target(plan: Plan, roots: list[Root], results: list[TargetResult]) -> list[TargetResult]:
    """One result per target: its platforms' results merged (the first error is the target's)."""
    out = []
    for name in plan.targets:
        mine = [r for r in results if r.target == name]
        if not mine:
            continue
        error = next((r.error for r in mine if r.error is not None), None)
        metadata: dict[str, object] = {}
        for r in mine:
            metadata.update(r.metadata or {})
        out.append(TargetResult(name, tuple(p for r in mine for p in r.platforms), tuple(x for r in mine for x in r.results),
                                tuple(dict.fromkeys(o for r in mine for o in r.outputs)), error,
                                sum(r.executed for r in mine), sum(r.cached for r in mine), metadata or None))
    return out
