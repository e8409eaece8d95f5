"""After the solve: each target's outputs, written from its results, and what the build returns.

Files (``type=local``, ``type=tar``) come from read-only mounts of the results, per platform in
subdirectories when a target has several; images go through ``app/images.py`` and a Publisher
that writes shared layouts and pushes once every target is assembled. Every export shows in the
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

from bake._record import record
from bake.content.imageconfig import ImageConfig
from bake.errors import BakeError
from bake.graph.ops import Vertex
from bake.model import ExportEntry, Plan, Target
from bake.progress.events import Completed, Noted, Sink, Started, Step
from bake.solver.cache import DirCache
from bake.solver.outcome import Outcome
from bake.worker.images import ImageStore
from bake.worker.snapshot import Snapshotter


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
    def __init__(self, plan: Plan, roots: Sequence[Root], outcomes: Sequence[Outcome], images: ImageStore, *,
                 cwd: str, env: Mapping[str, str], root: str, scratch: str, sink: Sink,
                 publish_after_all: bool = False, keys: Mapping[str, str] | None = None) -> None:
        from bake.app.images import Publisher

        self.plan = plan
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
        self.publisher = Publisher(root, images.store, images.repair)

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
                written += self._files(name, t, mine)
                more, metadata = self._images(name, t, mine)
                written += more
                if not t.output:
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

    def _files(self, name: str, t: Target, mine: list[tuple[Root, Outcome]]) -> list[str]:
        from bake.app.images import output_errors
        from bake.exporter.local import export_local
        from bake.exporter.tar import export_tar

        wanted = [o for o in t.output or () if o.type in ("local", "tar")]
        if not wanted or not self.publish:
            return []
        written = []
        subdirs = [r.platform.replace("/", "_") if len(mine) > 1 else "" for r, _ in mine]
        with views(self.images.snapshots, self.scratch, [o.result for _, o in mine]) as trees:
            pairs = list(zip(subdirs, trees, strict=True))
            for out in wanted:
                dest = out.dest if os.path.isabs(out.dest) or out.dest == "-" else os.path.join(self.cwd, out.dest)
                kind = "directory" if out.type == "local" else "tarball"
                with reported(self.sink, f"exporting to {kind} {out.dest}", name), \
                        output_errors(f"target {name}: output type={out.type},dest={out.dest}"):
                    (export_local if out.type == "local" else export_tar)(pairs, dest)
                written.append(f"type={out.type},dest={out.dest}")
        return written

    def _images(self, name: str, t: Target, mine: list[tuple[Root, Outcome]]) -> tuple[list[str], dict[str, object] | None]:
        from bake.app.images import Built, export_images, image_outputs

        if not image_outputs(t):
            return [], None
        built = [Built(r.platform, o.result, r.config) for r, o in mine]
        inline = None
        if any(c.type == "inline" for c in t.cache_to or ()):
            from bake.app.cache import inline_keys

            inline = inline_keys([r.vertex for r, _ in mine], self.keys, DirCache(self.root), self.images.snapshots)
        with reported(self.sink, "exporting to " + ", ".join(_describe(o) for o in image_outputs(t)), name):
            return export_images(self.publisher, self.images.layers, t, built, self.env, self.cwd,
                                 publish=self.publish, inline=inline)


def _describe(out: ExportEntry) -> str:
    """An image output as the progress names it (BuildKit's words, and where it goes)."""
    attrs = dict(out.attrs)
    if out.type in ("oci", "docker"):
        kind = "tarball" if attrs.get("tar", "true") == "true" else "layout directory"
        return f"{out.type} image format {kind} {out.dest}" if out.dest else f"{out.type} image format"
    pushing = out.type == "registry" or attrs.get("push") == "true"
    names = attrs.get("name", "")
    return f"image {names}{' (push)' if pushing else ''}".rstrip() if names else "image" + (" (push)" if pushing else "")


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
