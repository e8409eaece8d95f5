"""A build's roots — every requested target on each of its platforms, converted to the top vertex of
its graph — their labels, and the look a build takes at them before it starts an event loop:
whether the cache already holds every one (``check_cached``), from records alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bake._record import record
from bake.app.outputs import Root
from bake.errors import BakeError
from bake.model import Plan, build_platforms, local_platform
from bake.progress.events import Sink
from bake.solver.outcome import Outcome

if TYPE_CHECKING:
    from bake.app import Request, TargetConverter
    from bake.graph.ops import Vertex
    from bake.solver.keyplan import KeyPlan
    from bake.worker.worker import Worker

Roots = list[Root]
Done = tuple[Roots, list[Outcome], dict[str, str]]  # the roots, each one's outcome, the base images' keys


@record
class CacheCheck:
    """What ``check_cached`` learnt; every field empty when nothing could be learnt offline (``--pull``,
    ``no-cache``, a base image's record unusable)."""

    done: Done | None = None  # every target is cached: the build's results, to export as they are
    roots: Roots | None = None  # not all cached, but converted offline (the key plan holds what was learnt)
    unresolved: tuple[tuple[str, str], ...] = ()  # (ref, platform) of base images the root never resolved


def converted_roots(plan: Plan, converter: TargetConverter, host: str) -> Roots:
    """Every target of ``plan`` on each of its platforms, converted by ``converter``, in plan order."""
    out = []
    for name, t in plan.targets.items():
        for platform in build_platforms(t.platforms, host):
            c = converter.converted(name, platform)
            out.append(Root(name, platform, c.state.vertex, c.config))
    return out


def labels(roots: Sequence[Root]) -> list[str]:
    """Target names, with the platform where a target builds for several."""
    multi = {r.target for r in roots if sum(1 for o in roots if o.target == r.target) > 1}
    return [f"{r.target} ({r.platform})" if r.target in multi else r.target for r in roots]


def check_cached(req: Request, plan: Plan, worker: Worker, keys: KeyPlan[Vertex], sink: Sink) -> CacheCheck:
    """The build's results when every target is already in the cache — recognised from records
    alone, with no event loop, runtime or registry client. Else the roots, when they could be
    converted offline (and ``keys`` holds what was learnt), or the base images the root has no
    record of (to be resolved at once, concurrently)."""
    from bake.app import TargetConverter
    from bake.solver.cached import all_cached
    from bake.worker.worker import NotRecorded

    if any(t.pull or t.no_cache for t in plan.targets.values()):
        return CacheCheck()
    host = local_platform()
    configs = worker.configs(gather=True)
    converter = TargetConverter(plan, req.cwd, host, configs)
    try:
        roots = converted_roots(plan, converter, host)
    except NotRecorded:
        return CacheCheck()
    except BakeError:
        if not configs.missing:
            raise
        roots = []  # read with empty configs where images are unknown: an error may be theirs alone
    if configs.missing:
        return CacheCheck(unresolved=tuple(dict.fromkeys(configs.missing)))
    salts = worker.salts(req.cwd, host, pull=False)
    outcomes = all_cached(list(zip(labels(roots), (r.vertex for r in roots), strict=True)), keys, salts.salt,
                          worker.cache, worker.usable, sink)
    worker.statcache.save()
    return CacheCheck(done=(roots, outcomes, keys.bases)) if outcomes is not None else CacheCheck(roots=roots)
