"""An ordinary user's build answered without the user namespace, when nothing needs it.

Starting the user-namespace child (``app/rootless.py``: an interpreter, bake's imports, the
namespace) is most of a warm no-op rebuild's time. Yet a build whose every target is in the cache
needs no privilege to be recognised: the cache index, the snapshots' commit records, recorded
image digests and the context are the user's own files. So the parent asks first, with the same
``KeyPlan`` the solver uses (``app/roots.py``'s all-cached check), and answers by itself when

- every target's result is cached and usable (its snapshot chain committed and whole), and
- every output of every target is ``cacheonly`` or a ``type=local`` directory that already holds
  that very result, as the last export left it — so the export would write nothing.

Anything else — a miss, an image, tar or cache export, an output directory changed since, a root
whose snapshot kind is not recorded yet — goes to the child, which does the whole build as before;
events are held back until the answer is certain, so nothing shows twice. The parent only reads:
it never mounts, never claims a scratch directory, never sets a snapshot aside as damaged (the
child, which can mount and check them, decides that).

Why the output check is exact: every local export records, per target and destination, the
result ids and a fingerprint of what a sync compares (``app/exported.py``, the same records root's
builds skip an export by). If the same results are cached again and the destination's fingerprint
is unchanged, a sync would find every entry equal and write nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bake.app import exported
from bake.errors import BakeError
from bake.model import Plan, Target
from bake.progress.events import Event, Noted, Sink

if TYPE_CHECKING:
    from bake.app import Request, Resolved
    from bake.app.build import BuildOptions
    from bake.app.outputs import TargetResult
    from bake.graph.ops import Vertex
    from bake.worker.worker import Worker

ANSWERABLE_OUTPUTS = ("local", "cacheonly")  # what a fully cached build writes nothing for, when in sync


def build(resolved: Resolved, opts: BuildOptions, root: str, sink: Sink,
          child: Helper | None = None) -> list[TargetResult]:
    """An ordinary user's build of ``resolved.plan`` (checked already): answered here, else by
    ``child`` (by default the user-namespace child, started at once so that it gets ready while
    the parent looks); what the child's outputs now hold is noted for the next time."""
    from bake.app import rootless

    helper = child if child is not None else rootless.Child("build:build")
    req, plan = resolved.request, resolved.plan
    try:
        results = answered(req, opts, plan, root, sink)
    except BaseException:
        helper.dismiss()
        raise
    if results is not None:
        helper.dismiss()
        return results
    built: list[TargetResult] = helper.call((resolved, opts), sink)  # its exports note what they left
    return built


class Helper(Protocol):
    """Whoever builds when the parent cannot answer: the user-namespace child (``rootless.Child``)."""

    def call(self, args: tuple[Any, ...], sink: Callable[[Any], None] | None = None) -> Any:
        """The build's results for ``args``, its events sent to ``sink``."""

    def dismiss(self) -> None:
        """Not needed: the parent answered."""


def answered(req: Request, opts: BuildOptions, plan: Plan, root: str, sink: Sink) -> list[TargetResult] | None:
    """The build's results when every target is cached and its outputs already hold them (events
    sent, ``--metadata-file`` written); None when the build must go to the user namespace."""
    if not all(_answerable(t) for t in plan.targets.values()):
        return None
    worker = _reader(root)
    if worker is None:
        return None
    from bake.app.roots import check_cached
    from bake.graph.digest import digest
    from bake.solver.keyplan import KeyPlan

    held: list[Event] = []
    try:
        keys: KeyPlan[Vertex] = KeyPlan(digest)
        done = check_cached(req, plan, worker, keys, held.append).done
    except (OSError, BakeError):
        return None  # what the parent cannot read, root in the namespace may: the child decides
    if done is None:
        return None
    roots, outcomes, _ = done
    by_target: dict[str, list[tuple[str, str | None, int]]] = {}
    for r, o in zip(roots, outcomes, strict=True):
        by_target.setdefault(r.target, []).append((r.platform, o.result, o.cached))
    results = _results(plan, by_target, req.cwd, root)
    if results is None:
        return None
    for event in held:
        sink(event)
    _report_exports(plan, req.cwd, sink)
    if opts.metadata_file:
        from bake.app.build import write_metadata

        write_metadata(opts.metadata_file, results)
    return results


def _answerable(t: Target) -> bool:
    """No pull, no --no-cache, no cache export, no attestations (documents made anew each build);
    outputs only of the kinds that can be in place already."""
    return (not t.pull and not t.no_cache and not t.cache_to and not t.attest
            and all(o.type in ANSWERABLE_OUTPUTS and o.dest != "-" for o in t.output or ()))


def _reader(root: str) -> Worker | None:
    """The worker on ``root`` for reading only, if the root's snapshot kind is recorded (a root
    without it has nothing cached, and only the namespace may decide its kind)."""
    from bake.worker.copysnapshot import recorded_snapshotter
    from bake.worker.worker import Worker

    try:
        snapshots = recorded_snapshotter(root)
        return Worker(root, snapshots) if snapshots is not None else None
    except OSError:
        return None


def _results(plan: Plan, by_target: dict[str, list[tuple[str, str | None, int]]], cwd: str,
             root: str) -> list[TargetResult] | None:
    from bake.app.outputs import TargetResult

    out = []
    for name, t in plan.targets.items():
        mine = by_target.get(name, [])
        ids = [sid for _, sid, _ in mine]
        written = []
        for o in t.output or ():
            if o.type == "local":
                if not exported.in_sync(root, name, exported.dest_path(cwd, o.dest), ids):
                    return None
                written.append(f"type=local,dest={o.dest}")
        out.append(TargetResult(name, tuple(p for p, _, _ in mine), tuple(ids), tuple(written), None, 0,
                                sum(c for _, _, c in mine)))
    return out


def _report_exports(plan: Plan, cwd: str, sink: Sink) -> None:
    """The export steps and the no-output warning, as a build that exported would show them."""
    from bake.app.outputs import reported
    from bake.exporter.specs import plan_specs
    from bake.exporter.table import exporter

    silent = []
    for name, specs in plan_specs(plan).items():
        for spec in specs.outputs:
            if spec.type == "local":
                with reported(sink, f"exporting to {exporter(spec.type).describe(spec)}", name):
                    pass  # in sync: nothing to write
        if not specs.outputs:
            silent.append(name)
    if silent:  # the same words as app/outputs.py (a test holds both paths' events equal)
        which = f"{silent[0]} target" if len(silent) == 1 else f"targets {', '.join(silent)}"
        sink(Noted(f"No output specified for {which}; the build result will only remain in the build cache. "
                   "Use an output (type=local,dest=… or type=tar,dest=…) to export it.", time.time(), "warning"))
