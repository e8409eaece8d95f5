"""``bake [targets]``: resolve the plan, convert every target on each platform into one graph,
solve it with the embedded worker, then write each target's outputs.

Nothing is exported until a target has fully built, and a target whose build failed writes
nothing. State lives under the bake root (``--root``, ``$BAKE_ROOT``, ``$XDG_CACHE_HOME/bake``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from bake._record import record
from bake.app import Request, Resolved, TargetConverter
from bake.app.outputs import Outputs, TargetResult
from bake.app.roots import CacheCheck, Done, Roots, check_cached, converted_roots, labels
from bake.content.atomic import write_atomic
from bake.content.stateroot import StateRoot
from bake.errors import BakeError, BuildFailed, StepError, UsageError
from bake.exporter.specs import TargetSpecs, plan_specs
from bake.model import Plan, SecretEntry, SSHEntry, local_platform
from bake.progress.events import Noted, Sink, discard

if TYPE_CHECKING:
    from bake.app.explain import Explanations
    from bake.content import oci
    from bake.exporter.push import Pusher
    from bake.graph.ops import Vertex
    from bake.registry.client import RegistryClient
    from bake.solver.keyplan import KeyPlan
    from bake.worker.worker import Worker

@record
class BuildOptions:
    root: str | None = None
    keep_going: bool = False
    parallelism: int | None = None  # execs at once; None: 4 per core, at least 4
    allow: tuple[str, ...] = ()  # granted entitlements (--allow)
    metadata_file: str | None = None
    runtime: str | None = None  # runc | crun; None: the first that works here
    publish: str = "each"  # each: push/export images as targets succeed; after-all: only if every target did
    builder: str | None = None  # --builder; None: $BUILDX_BUILDER, else the embedded worker
    explain: bool = False  # --explain: a note on why each step that runs does (app/explain.py)


def state_root(env: Mapping[str, str]) -> str:
    return StateRoot.locate(env).path


def build(resolved: Resolved, opts: BuildOptions, sink: Sink = discard) -> list[TargetResult]:
    """Build every requested target of the resolved plan; raises the failing step's error (or
    ``BuildFailed`` for several with ``keep_going``) after writing the outputs of the targets that
    succeeded. One event loop and one registry client for the whole command, exports included; a
    build found fully cached whose outputs need no registry runs no loop at all."""
    from bake.app import remote, rootless

    req, plan = resolved.request, resolved.plan
    _check_network(plan)
    builder = remote.selected(opts.builder, req.env)  # an unknown builder is an error before anything builds
    if builder is not None:
        return remote.build(resolved, opts, builder, sink)
    env = dict(os.environ if req.env is None else req.env)
    specs = plan_specs(plan, env)  # outputs, caches and attest typed and checked: nothing found bad after the build
    from bake.registry.config import load as load_config

    load_config()  # a malformed bake.toml is an error now, not when (or if) a registry is first asked
    allow = _entitlements(plan, opts.allow)
    root = StateRoot.locate(env, opts.root).path
    if rootless.needed():  # an ordinary user: answered here if all is cached and in place, else in the namespace
        from bake.app import outside

        return outside.build(resolved, opts, root, sink)
    from bake.worker.worker import Worker

    started = time.time()  # the provenance's buildStartedOn
    try:
        worker = Worker.open(root)
    except OSError as err:
        raise UsageError(f"cannot use {root} as bake's state root (--root, BAKE_ROOT): "
                         f"{err.strerror or err}") from err
    with worker.claimed() as scratch:
        try:
            with resolved.located():
                from bake.graph.digest import digest
                from bake.solver.keyplan import KeyPlan

                key_plan: KeyPlan[Vertex] = KeyPlan(digest)  # one key plan: the all-cached check, then the solver
                cached = check_cached(req, plan, worker, key_plan, sink)

                def export(done: Done, pusher: Pusher | None) -> list[TargetResult]:
                    return _export(req, plan, specs, opts, env, worker, root, scratch, done, pusher, sink, started)

                if cached.done is not None and not _needs_registry(specs):
                    results = export(cached.done, None)  # the warm no-op path: no event loop, no client
                else:
                    import anyio

                    from bake.app.explain import Explanations

                    why = Explanations(root, key_plan, req.cwd, worker.statcache, sink, opts.explain)
                    results = anyio.run(_run, req, opts, env, plan, specs, worker, key_plan, cached, allow, why,
                                        export, why)
        finally:
            from bake.app.outputs import report_repairs

            report_repairs(worker.images, sink)  # also when the build failed before its outputs
    if opts.metadata_file:
        write_metadata(opts.metadata_file, results)
    failures = tuple((r.target, r.error) for r in results if r.error is not None)
    _inline_sources(plan, failures)
    if len(failures) == 1 or (failures and not opts.keep_going):
        raise _first_error(failures)
    if failures:
        raise BuildFailed(failures)
    return results


def _export(req: Request, plan: Plan, specs: Mapping[str, TargetSpecs], opts: BuildOptions, env: Mapping[str, str],
            worker: Worker, root: str, scratch: str, done: Done, pusher: Pusher | None,
            sink: Sink, started: float | None = None) -> list[TargetResult]:
    """Every target's outputs, then every ``cache-to``, written from the build's results."""
    roots, outcomes, keys = done
    results = Outputs(plan, specs, roots, outcomes, worker.images, cwd=req.cwd, env=env, root=root, scratch=scratch,
                      sink=sink, publish_after_all=opts.publish == "after-all", keys=keys, pusher=pusher,
                      started=started).write()
    if any(s.cache_to for s in specs.values()):
        from bake.app import cache

        failed = {r.target for r in results if r.error is not None}
        for line in cache.export(specs, [(r.target, r.vertex) for r in roots], keys, worker.cache, worker.images,
                                 req.cwd, sink, failed, pusher):
            sink(Noted(line, time.time()))
    return results


def _needs_registry(specs: Mapping[str, TargetSpecs]) -> bool:
    """Whether writing the outputs pushes (an image or a cache) and so needs the registry client."""
    return any(o.type == "registry" or o.push for s in specs.values() for o in s.outputs) or any(
        c.type == "registry" and c.supported for s in specs.values() for c in s.cache_to)


async def _run(req: Request, opts: BuildOptions, env: dict[str, str], plan: Plan, specs: Mapping[str, TargetSpecs],
               worker: Worker, keys: KeyPlan[Vertex], cached: CacheCheck, allow: tuple[str, ...],
               sink: Sink,
               export: Callable[[Done, Pusher | None], list[TargetResult]],
               why: Explanations | None = None) -> list[TargetResult]:
    """Solve every target as one graph (unless ``cached`` has the results already), converting
    them first in a worker thread unless that was done offline, then write the outputs (in a
    worker thread too), pushing through this loop's one registry client."""
    import anyio

    from bake.solver.scheduler import Solver

    secrets: list[SecretEntry] = []
    ssh: list[SSHEntry] = []
    for t in plan.targets.values():
        secrets.extend(s for s in t.secret or () if s.id not in {x.id for x in secrets})
        ssh.extend(s for s in t.ssh or () if s.id not in {x.id for x in ssh})
    pull = any(t.pull for t in plan.targets.values())
    host = local_platform()
    async with worker.session(salts=worker.salts(req.cwd, host, pull), env=env, secrets=secrets, ssh=ssh,
                              allow=allow, runtime=opts.runtime, client=registry_client) as session:

        def pusher(images: Sequence[tuple[oci.Descriptor, Sequence[str]]], insecure: Collection[str] = ()) -> None:
            from bake.exporter.push import push_all

            anyio.from_thread.run(push_all, session.client(), worker.images.store, images, insecure)

        if cached.done is not None:
            return await anyio.to_thread.run_sync(export, cached.done, pusher)
        configs = worker.configs(session.client, refresh=pull)
        converter = TargetConverter(plan, req.cwd, host, configs)

        def convert() -> Roots:
            return cached.roots if cached.roots is not None else converted_roots(plan, converter, host)

        cores = os.cpu_count() or 1
        limits = {"exec": opts.parallelism or max(4, 4 * cores), "fetch": 4}
        from bake.app import cache

        remote = worker.imported(cache.sources(specs, req.cwd, session.client, sink))
        solver = Solver(session.backend, worker.cache, sink, limits, opts.keep_going, remote=remote,
                        locks=worker.locks(), keys=keys)
        async with anyio.create_task_group() as tg:
            tg.start_soon(session.prefetch)  # the runtime probe overlaps conversion and pulls
            if cached.unresolved:  # every base image at once, not one stage's after another's
                tg.start_soon(configs.prefetch, cached.unresolved)
            roots = await anyio.to_thread.run_sync(convert)
            if why is not None:
                for label, r in zip(labels(roots), roots, strict=True):
                    why.add(plan, label, r.target, r.platform, r.vertex)
            outcomes = await solver.solve([(label, r.vertex) for label, r in zip(labels(roots), roots, strict=True)])
        for failure in remote.failures if remote is not None else ():
            sink(Noted(f"{failure} (built without it)", time.time(), "warning"))
        if why is not None:
            why.save(list(zip(labels(roots), (r.vertex for r in roots), strict=True)),
                     {o.label for o in outcomes if o.error is not None})
        return await anyio.to_thread.run_sync(export, (roots, outcomes, solver.keys_of), pusher)


def registry_client() -> RegistryClient:
    """The command's registry client, made when a registry is first asked (httpx is imported then)."""
    from bake.registry.client import default_client

    return default_client()


def _check_network(plan: Plan) -> None:
    """A target's ``network`` is one buildx passes on (default, host, none), before anything builds."""
    for name, t in plan.targets.items():
        if t.network not in (None, "", "default", "host", "none"):
            raise UsageError(f'target {name}: network mode "{t.network}" not supported (expected default, host or none)')


def _entitlements(plan: Plan, allow: Sequence[str]) -> tuple[str, ...]:
    """What the executor may grant: ``--allow`` plus ``network.host`` for targets that ask for the
    host network. A target listing an entitlement that was not allowed is refused (bake never prompts)."""
    granted = set(allow)
    for name, t in plan.targets.items():
        missing = [e for e in t.entitlements or () if e not in granted]
        if missing:
            raise UsageError(f"target {name} asks for {', '.join(missing)}: grant it with "
                             + " ".join(f"--allow {e}" for e in missing))
        if t.network == "host":
            granted.add("network.host")
    return tuple(sorted(granted))


def _inline_sources(plan: Plan, failures: tuple[tuple[str, BakeError | None], ...]) -> None:
    """A step of a dockerfile-inline target failed: its error carries the text the location points
    into, so the excerpt shows those lines (a file named like it on disk may say something else)."""
    for name, err in failures:
        t = plan.targets.get(name)
        if isinstance(err, StepError) and t is not None and t.dockerfile_inline is not None \
                and err.source.startswith("Dockerfile:"):
            err.text = t.dockerfile_inline


def _first_error(failures: tuple[tuple[str, BakeError | None], ...]) -> BakeError:
    for _, err in failures:
        if isinstance(err, StepError):
            return err
    err = failures[0][1]
    assert err is not None
    return err


def write_metadata(path: str, results: list[TargetResult]) -> None:
    """``--metadata-file``: buildx's keys for every target that built (its build ref, image digests)."""
    doc: dict[str, object] = {}
    for r in results:
        if r.error is None:
            doc[r.target] = {"buildx.build.ref": f"bake/{r.target}/" + ",".join(x or "scratch" for x in r.results),
                             **(r.metadata or {})}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode())
    except OSError as err:
        raise UsageError(f"--metadata-file {path}: {err.strerror or err}") from err
