"""``bake --builder NAME`` on a BuildKit daemon (buildx's ``remote`` driver): the same plan and
the same converted graph as on the embedded worker, solved by ``buildkitd`` over its control API.

Before anything builds: the builder is read from buildx's store, its node asked for its version
and platforms (an unreachable daemon is an error naming builder and node), and everything this
slice cannot send yet is refused. Then one solve per target and platform, concurrently (BuildKit
runs a step shared by several targets once), each with its own session when its output comes
back to the client (``type=local`` arrives as a tarball and is unpacked here; ``type=tar`` as is).
"""

from __future__ import annotations

import os
import secrets
import tarfile
import tempfile
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bake.app import Request, _TargetConverter, located_errors, open_project
from bake.app.build import BuildOptions, _check_outputs, _labels, _roots, _write_metadata
from bake.app.outputs import Root, TargetResult
from bake.buildkit import BuilderError, NotSupportedRemote
from bake.buildkit.builders import Builder, Node, check, load, selected_name
from bake.errors import BakeError, BuildFailed, StepError
from bake.model import Plan, local_platform
from bake.progress.events import Built, Noted, Planned, Sink

if TYPE_CHECKING:
    from bake.buildkit.control import Control
    from bake.buildkit.session.filesync import Tree

REMOTE_OUTPUTS = ("local", "tar", "cacheonly")


def selected(flag: str | None, env: Mapping[str, str] | None) -> Builder | None:
    """The BuildKit builder asked for (``--builder``, ``BUILDX_BUILDER``), or None: the embedded worker."""
    env = dict(os.environ if env is None else env)
    name = selected_name(flag, env)
    return None if name is None else load(name, env)


def build(req: Request, opts: BuildOptions, builder: Builder, sink: Sink) -> list[TargetResult]:
    node = check(builder)
    project = open_project(req)
    with located_errors(project.files):
        plan = project.plan(list(req.targets))
    _check_outputs(plan)
    _refuse(plan, opts, builder)
    import anyio

    results: list[TargetResult] = anyio.run(_run, req, plan, builder, node, sink)
    if opts.metadata_file:
        _write_metadata(opts.metadata_file, results)
    failures = tuple((r.target, r.error) for r in results if r.error is not None)
    if len(failures) == 1 or (failures and not opts.keep_going):
        err = failures[0][1]
        assert err is not None
        raise err
    if failures:
        raise BuildFailed(tuple((t, e) for t, e in failures if e is not None))
    return results


def _refuse(plan: Plan, opts: BuildOptions, builder: Builder) -> None:
    """What this slice cannot do on a BuildKit builder, refused before anything builds."""
    def no(what: str) -> None:
        raise NotSupportedRemote(what, builder.name)

    if opts.publish != "each":
        no("--publish after-all")
    for name, t in plan.targets.items():
        for out in t.output or ():
            if out.type not in REMOTE_OUTPUTS:
                no(f"target {name}: output type={out.type} (supported: {', '.join(REMOTE_OUTPUTS)}; image outputs "
                   "need the image config sent through BuildKit's gateway API)")
        if len(t.output or ()) > 1:
            no(f"target {name}: several outputs")
        if len(t.platforms or ()) > 1:
            no(f"target {name}: several platforms")
        for what, value in (("cache-from", t.cache_from), ("cache-to", t.cache_to), ("secret", t.secret),
                            ("ssh", t.ssh), ("attest", t.attest), ("entitlements", t.entitlements)):
            if value:
                no(f"target {name}: {what}")


async def _run(req: Request, plan: Plan, builder: Builder, node: Node, sink: Sink) -> list[TargetResult]:
    import anyio

    from bake.buildkit.control import Control

    async with Control(node.endpoint, builder.name, node.name) as control:
        info = await control.info()
        sink(Noted(f"builder {builder.name} ({builder.driver}): node {node.name} at {node.endpoint}, "
                   f"BuildKit {info.version}", time.time()))
        host = info.platforms[0] if info.platforms else local_platform()
        roots = await anyio.to_thread.run_sync(_convert, req, plan, host)
        for r in roots:
            if info.platforms and r.platform not in info.platforms:
                raise BuilderError(f"target {r.target}: platform {r.platform} is not served "
                                   f"(the node has {', '.join(info.platforms)})", builder.name, node.name)
        labels = _labels(roots)
        sink(Planned(tuple(labels), 0, time.time()))
        from bake.buildkit.session import Session

        trees: dict[str, Tree] = {}
        async with Session(control, trees=trees, lister=_lister, name="bake-contexts") as contexts:
            solved: dict[int, TargetResult] = {}
            async with anyio.create_task_group() as tg:
                for i, (label, root) in enumerate(zip(labels, roots, strict=True)):
                    tg.start_soon(_solve_one, control, contexts.id, trees, plan, req.cwd, label, root, sink, solved, i)
    return _per_target(plan, roots, [solved[i] for i in range(len(roots))])


def _convert(req: Request, plan: Plan, host: str) -> list[Root]:
    """Every target converted as for the embedded worker; base images' configs come from their
    registries through bake's client (and its records under the bake root)."""
    from bake.app.build import _registry_client
    from bake.content.stateroot import StateRoot
    from bake.content.store import ContentStore
    from bake.worker.imageconfigs import RegistryConfigs
    from bake.worker.images import ImageStore
    from bake.worker.snapshot import Snapshotter

    root = StateRoot.locate(dict(os.environ if req.env is None else req.env)).path
    images = ImageStore(root, ContentStore(os.path.join(root, "content")), Snapshotter(root))
    with located_errors(open_project(req).files):
        return _roots(plan, _TargetConverter(plan, req.cwd, host, RegistryConfigs(images, _registry_client)), host)


def _lister(path: str, excludes: tuple[str, ...]) -> list[str]:
    from bake.worker.context import files

    return files(path, excludes)


async def _solve_one(control: Control, contexts_id: str, trees: dict[str, Tree], plan: Plan, cwd: str, label: str,
                     root: Root, sink: Sink, solved: dict[int, TargetResult], index: int) -> None:
    """Solve one target on one platform; its failure is its result, never its siblings'."""
    import anyio

    from bake.buildkit import llb
    from bake.buildkit.control import SolveFailed
    from bake.buildkit.progress import StatusMapper
    from bake.buildkit.proto import control_pb2 as api
    from bake.buildkit.session import Session
    from bake.buildkit.session.filesync import Tree

    target = plan.targets[root.target]
    out = (target.output or (None,))[0]
    outputs: tuple[str, ...] = ()
    error: BakeError | None = None
    mapper = None
    try:
        if root.vertex is None:
            raise NotSupportedRemote(f"target {root.target}: an empty result (FROM scratch with nothing added)")
        m = llb.marshal(root.vertex, contexts_id)
        for d in m.locals:
            trees[d.name] = Tree(os.path.join(cwd, d.path), d.excludes)
        mapper = StatusMapper(label, m.vertices)
        ref = secrets.token_hex(13)
        request = api.SolveRequest(Ref=ref, Definition=m.definition, Session=contexts_id)
        with tempfile.TemporaryDirectory(prefix="bake-export-") as tmp:
            tarball = os.path.join(tmp, "out.tar")
            receiver = None
            if out is not None and out.type in ("local", "tar"):
                request.Exporters.add(Type="tar")
                receiver = lambda: open(tarball, "wb")  # noqa: E731, SIM115
            async with Session(control, receiver=receiver, name=f"bake-{root.target}") as session:
                if receiver is not None:
                    request.Session = session.id
                async with anyio.create_task_group() as tg:
                    async def status() -> None:
                        async for update in control.status(ref):
                            for event in mapper.events(update):
                                sink(event)
                    tg.start_soon(status)
                    try:
                        await control.solve(request)
                    finally:  # the status stream ends with the solve: give it a little time, not forever
                        tg.cancel_scope.deadline = anyio.current_time() + 10
            if out is not None and out.type in ("local", "tar"):
                dest = os.path.join(cwd, out.dest)
                await anyio.to_thread.run_sync(_deliver, out.type, tarball, dest)
                outputs = (f"{out.type}:{out.dest}",)
                sink(Noted(f"target {root.target}: exported {out.type} to {out.dest}", time.time()))
    except SolveFailed as err:
        error = StepError(label, err.reason, (label,))
    except BakeError as err:
        error = err
    sink(Built(label, time.time(), "" if error is None else str(error)))
    solved[index] = TargetResult(root.target, (root.platform,), (None,), outputs, error,
                                 mapper.executed if mapper else 0, mapper.cached if mapper else 0)


def _deliver(kind: str, tarball: str, dest: str) -> None:
    """``tar``: the tarball, moved into place; ``local``: unpacked into ``dest`` (tarfile's ``tar``
    filter: no absolute names, nothing outside ``dest``), owned by whoever runs bake."""
    if kind == "tar":
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        os.replace(tarball, dest)
        return
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tarball) as tf:
        tf.chown = lambda *args, **kwargs: None  # type: ignore[method-assign]  # owned by whoever runs bake
        tf.extractall(dest, filter="tar")


def _per_target(plan: Plan, roots: list[Root], results: list[TargetResult]) -> list[TargetResult]:
    """One result per target (this slice builds each target for one platform)."""
    return [r for r in results if r.target in plan.targets]
