"""After the solve: each target's outputs, written from its results, and what the build returns.

Each output is written by the exporter its type names in ``bake.exporter.table``, from the typed
spec checked when the plan was made: file exporters get read-only mounts of the results (per
platform in subdirectories when a target has several), image exporters the target's images
(assembled once per shape) and a Publisher that writes shared layouts and pushes once every
target is assembled, through the command's one registry client. Every export shows in the
progress as a step. A target that failed writes nothing; with ``--publish=after-all`` nothing is
written at all when any target failed. Damage the store or snapshotter found and repaired during
the build (a blob or snapshot dropped and made again, a state file read as a miss) is reported as
warnings here, once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from bake._record import record
from bake.app import exported
from bake.content import oci
from bake.content.imageconfig import ImageConfig
from bake.errors import BakeError
from bake.exporter.images import Built, Publisher, TargetImages
from bake.exporter.job import ExportJob
from bake.exporter.specs import TargetSpecs
from bake.exporter.table import exporter
from bake.graph.ops import Vertex
from bake.model import OutputSpec, Plan, Target, local_platform, platform_dir
from bake.progress.events import Completed, Noted, Sink, Started, Step
from bake.solver.cache import DirCache
from bake.solver.outcome import Outcome
from bake.worker.images import ImageStore
from bake.worker.layers import Layer, Layers
from bake.worker.snapshot import Snapshotter

if TYPE_CHECKING:
    from bake.exporter.attest import BuildFacts
    from bake.exporter.push import Pusher


@record
class TargetResult:
    """One target's end: what each platform's build produced, where outputs went, or its error."""

    target: str
    platforms: tuple[str, ...]
    results: tuple[str | None, ...]  # snapshot ids (None: an empty filesystem)
    outputs: tuple[str, ...]
    error: BakeError | None
    executed: int
    cached: int
    metadata: dict[str, object] | None = None  # buildx's keys for image outputs (containerimage.digest …)


@record
class Root:
    """A target on one platform, converted: the vertex of its result and its image config."""

    target: str
    platform: str
    vertex: Vertex | None
    config: ImageConfig


class Outputs:
    def __init__(self, plan: Plan, specs: Mapping[str, TargetSpecs], roots: Sequence[Root],
                 outcomes: Sequence[Outcome], images: ImageStore, *, cwd: str, env: Mapping[str, str], root: str,
                 scratch: str, sink: Sink, publish_after_all: bool = False, keys: Mapping[str, str] | None = None,
                 pusher: Pusher | None = None, started: float | None = None) -> None:
        self.plan = plan
        self.started = time.time() if started is None else started  # the build's start, as provenance says
        self.specs = specs
        self.roots = list(roots)
        self.outcomes = list(outcomes)
        self.images = images
        self.cwd = cwd
        self.env = env
        self.root = root
        self.scratch = scratch
        self.sink = sink
        self.keys = keys or {}
        self.publish = not (publish_after_all and any(o.error is not None for o in outcomes))
        self.publisher = Publisher(root, images.store, images.repair, pusher)

    def write(self) -> list[TargetResult]:
        try:
            return self._write()
        finally:
            report_repairs(self.images, self.sink)

    def _write(self) -> list[TargetResult]:
        report_repairs(self.images, self.sink)
        results = []
        silent: list[str] = []
        for name, t in self.plan.targets.items():
            mine = [(r, o) for r, o in zip(self.roots, self.outcomes, strict=True) if r.target == name]
            error = next((o.error for _, o in mine if o.error is not None), None)
            written: list[str] = []
            metadata: dict[str, object] | None = None
            if error is None:
                specs = self.specs[name].outputs
                written += self._files(name, t, mine, [s for s in specs if exporter(s.type).kind == "files"])
                more, metadata = self._images(name, t, mine, [s for s in specs if exporter(s.type).kind == "image"])
                written += more
                if not specs:
                    silent.append(name)
            results.append(TargetResult(name, tuple(r.platform for r, _ in mine), tuple(o.result for _, o in mine),
                                        tuple(written), error, sum(o.executed for _, o in mine),
                                        sum(o.cached for _, o in mine), metadata))
        if self.publisher.layouts or self.publisher.pushes:
            with reported(self.sink, "publishing: writing shared layouts, pushing", *self.plan.targets):
                for line in self.publisher.flush():
                    self.sink(Noted(line, time.time()))
        if silent:
            which = f"{silent[0]} target" if len(silent) == 1 else f"targets {', '.join(silent)}"
            self.sink(Noted(f"No output specified for {which}; the build result will only remain in the build "
                            "cache. Use an output (type=local,dest=… or type=tar,dest=…) to export it.",
                            time.time(), "warning"))
        return results

    def _files(self, name: str, t: Target, mine: list[tuple[Root, Outcome]], wanted: list[OutputSpec]) -> list[str]:
        if not wanted or not self.publish:
            return []
        written = []
        ids = [o.result for _, o in mine]
        dests = [exported.dest_path(self.cwd, s.dest) if s.type == "local" and s.dest not in ("", "-") else None
                 for s in wanted]
        # a local output already holding these results as the last export left it: a sync would write nothing
        fresh = [d is not None and exported.in_sync(self.root, name, d, ids) for d in dests]
        subdirs = [platform_dir(r.platform) if len(mine) > 1 else "" for r, _ in mine]
        with contextlib.ExitStack() as stack:
            mounted = () if all(fresh) else zip(subdirs, stack.enter_context(views(self.images.snapshots, self.scratch,
                                                                                  ids)), strict=True)
            job = ExportJob(name, t.tags or (), self.cwd, trees=list(mounted), env=self.env)
            for spec, dest, skip in zip(wanted, dests, fresh, strict=True):
                with reported(self.sink, f"exporting to {exporter(spec.type).describe(spec)}", name):
                    if skip:
                        written.append(f"type={spec.type},dest={spec.dest}")
                        continue
                    written += exporter(spec.type).export(spec, job)
                if dest is not None:
                    exported.note(self.root, name, dest, ids)
        return written

    def _images(self, name: str, t: Target, mine: list[tuple[Root, Outcome]],
                wanted: list[OutputSpec]) -> tuple[list[str], dict[str, object] | None]:
        if not wanted:
            return [], None
        inline = None
        if any(c.type == "inline" for c in self.specs[name].cache_to):
            from bake.app.cache import inline_keys

            inline = inline_keys([r.vertex for r, _ in mine], self.keys, DirCache(self.root), self.images.snapshots)
        epoch_text = self.env.get("SOURCE_DATE_EPOCH") or (t.args or {}).get("SOURCE_DATE_EPOCH") or ""
        provenance = self.specs[name].provenance
        facts = [build_facts(t, r, self.images, self.started, time.time()) for r, _ in mine] if provenance else []
        images = TargetImages(name, self.images.store, WorkerLayers(self.images.layers),
                              [Built(r.platform, o.result, r.config) for r, o in mine], created=time.time(),
                              epoch=int(epoch_text) if epoch_text.isdigit() else None,
                              labels={k: v for k, v in (t.labels or {}).items() if v is not None}, inline=inline,
                              provenance=provenance, facts=facts)
        job = ExportJob(name, t.tags or (), self.cwd, publish=self.publish, images=images, publisher=self.publisher,
                        env=self.env)
        written: list[str] = []
        with reported(self.sink, "exporting to " + ", ".join(exporter(s.type).describe(s) for s in wanted), name):
            for spec in wanted:
                written += exporter(spec.type).export(spec, job)
        return written, job.metadata


def build_facts(t: Target, root: Root, images: ImageStore, started: float, finished: float) -> BuildFacts:
    """What one platform's provenance says: the target's args, the secrets and SSH sockets its
    steps mount (ids only, never values), its local sources and the base images as resolved."""
    from bake.exporter.attest import BuildFacts, image_purl
    from bake.graph.ops import ExecOp, SourceOp, each_vertex
    from bake.registry.reference import parse_reference

    secrets: dict[str, bool] = {}
    ssh: dict[str, bool] = {}
    # the named contexts buildx sends as local directories, by their names (bake's sources are paths)
    named = sorted(k for k, v in (t.contexts or {}).items() if "://" not in v and not v.startswith("target:"))
    materials: dict[str, str] = {}
    for v in each_vertex([root.vertex] if root.vertex is not None else []):
        if isinstance(v.op, ExecOp):
            for m in v.op.mounts:
                if m.type in ("secret", "ssh"):
                    into = secrets if m.type == "secret" else ssh
                    into[m.secret_id or "default"] = into.get(m.secret_id or "default", True) and not m.required
        elif isinstance(v.op, SourceOp) and v.op.identifier.startswith("docker-image://"):
            ref = parse_reference(v.op.identifier[len("docker-image://"):])
            platform = oci.Platform.parse(v.platform or root.platform)
            manifest = images.recorded(ref, platform)
            if manifest is not None:
                materials[image_purl(str(ref), platform)] = ref.digest or manifest.digest
    return BuildFacts(dockerfile=t.dockerfile or "Dockerfile", platform=root.platform, started=started,
                      finished=finished, args=tuple((k, v) for k, v in (t.args or {}).items() if v is not None),
                      secrets=tuple(sorted(secrets.items())), ssh=tuple(sorted(ssh.items())), locals=("context", "dockerfile", *named),
                      materials=tuple(sorted(materials.items())), builder_platform=local_platform())


class WorkerLayers:
    """The worker's layer store as image exporters ask it (``bake.exporter.images.ImageLayers``)."""

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def chain(self, result: str) -> list[str]:
        return list(reversed(self.layers.snapshots.chain(result)))

    def layer(self, snapshot: str, compression: str, level: int | None, epoch: int | None, force: bool) -> Layer:
        return self.layers.layer(snapshot, compression, level, epoch, force)


def report_repairs(images: ImageStore, sink: Sink) -> None:
    """Warn about what was found damaged and repaired since the last call (each once)."""
    for notes in (images.store.repaired, images.snapshots.repaired):
        for text in notes:
            sink(Noted(text, time.time(), "warning"))
        notes.clear()


@contextlib.contextmanager
def reported(sink: Sink, name: str, *targets: str) -> Iterator[None]:
    """An export shown as a step of the progress (started, done or failed, with its time)."""
    step = Step("sha256:" + hashlib.sha256(f"{name} {targets}".encode()).hexdigest(), name, targets)
    sink(Started(step, time.time()))
    try:
        yield
    except BaseException as err:
        sink(Completed(step, time.time(), getattr(err, "message", str(err)) or type(err).__name__))
        raise
    sink(Completed(step, time.time()))


@contextlib.contextmanager
def views(snapshots: Snapshotter, scratch: str, results: Sequence[str | None]) -> Iterator[list[str | None]]:
    """Read-only mounts of the results (None stays None: an empty filesystem)."""
    with contextlib.ExitStack() as stack:
        trees: list[str | None] = []
        for sid in results:
            if sid is None:
                trees.append(None)
                continue
            path = tempfile.mkdtemp(prefix="export-", dir=scratch)
            stack.callback(os.rmdir, path)
            snapshots.mount(sid, path, readonly=True)
            stack.callback(snapshots.unmount, path)
            trees.append(path)
        yield trees
