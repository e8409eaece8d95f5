"""``--explain`` and ``bake explain``: why each step that ran did, against the target's last build.

Every embedded build records, per target (label), what its steps' keys were made of
(``solver/explain.py``'s ``Record``) under the root's ``explain/`` folder, which this module owns;
under ``--explain`` each step that starts is followed by a ``Noted`` naming the step and its cause.
The facts recorded beside a salt are the worker's: the files of a local context (path → digest,
at most ``MAX_FILES``), so a changed context names the files; a target's facts are its build args
and platform. A fully cached build runs nothing and records nothing (its record stands).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bake._record import replace
from bake.content.atomic import write_atomic
from bake.content.stateroot import StateRoot
from bake.errors import BakeError
from bake.progress.events import Event, Noted, Sink, Started
from bake.solver.explain import Change, Explainer, Facts, Reason, Record, decode, encode

if TYPE_CHECKING:
    from bake.app import Request, Resolved
    from bake.graph.ops import Vertex
    from bake.model import Plan
    from bake.solver.keyplan import KeyPlan
    from bake.worker.context import StatCache

MAX_FILES = 20_000
SHOWN = 5  # paths named per kind of change
_FILE = "file:"


class Explanations:
    """One build's explainer: a sink in front of the build's, and the records written after it."""

    def __init__(self, root: str, plan: KeyPlan[Vertex], cwd: str, statcache: StatCache, sink: Sink,
                 show: bool) -> None:
        self.dir = StateRoot(root).explain
        self.cwd = cwd
        self.statcache = statcache
        self.out = sink
        self.show = show
        self.previous = load(root)
        self.explainer: Explainer[Vertex] = Explainer(plan, self._facts, {k: v[0] for k, v in self.previous.items()})
        self.reasons: dict[str, list[str]] = {}

    def add(self, plan: Plan, label: str, target: str, platform: str, vertex: Vertex | None) -> None:
        t = plan.targets[target]
        facts = (*sorted((f"arg:{k}", v or "") for k, v in (t.args or {}).items()), ("platform", platform))
        self.explainer.add(label, vertex, facts)

    def __call__(self, event: Event) -> None:
        self.out(event)
        if isinstance(event, Started) and event.step.digest in self.explainer.vertices:
            try:
                text = render(self.explainer.why(event.step.digest, event.step.targets))
            except (OSError, KeyError, BakeError) as err:  # an explanation never fails a build
                text = f"cannot tell ({err})"
            line = f"why {event.step.name} ran: {text}"
            for label in event.step.targets:
                self.reasons.setdefault(label, []).append(line)
            if self.show:
                self.out(Noted(line, event.at, step=event.step))

    def save(self, roots: Sequence[tuple[str, Vertex | None]], failed: set[str]) -> None:
        """Record each root's build (a failed target keeps its last good record, with this run's reasons)."""
        try:
            os.makedirs(self.dir, exist_ok=True)
            for label, v in roots:
                if v is None:
                    continue
                record = self.previous[label][0] if label in failed and label in self.previous else \
                    self.explainer.record(label, v)
                doc = {"target": label, "at": time.time(), "failed": label in failed,
                       "reasons": self.reasons.get(label, []), "record": encode(record)}
                write_atomic(_path(self.dir, label), json.dumps(doc, separators=(",", ":")).encode())
        except (OSError, BakeError):  # a record is a convenience: never fail a build over it
            return

    def _facts(self, v: Vertex) -> Facts:
        from bake.graph.ops import SourceOp
        from bake.worker.keys import context_dir, excludes, is_local

        sources = [v] if is_local(v) else [i for i in v.inputs if is_local(i)]
        out: dict[str, str] = {}
        for s in sources:
            assert isinstance(s.op, SourceOp)
            out.update(context_files(context_dir(self.cwd, s.op), excludes(s.op), self.statcache))
        return tuple(sorted(out.items()))


def context_files(root: str, patterns: Sequence[str], cache: StatCache) -> dict[str, str]:
    """``file:PATH`` → a short digest of what the context's checksum reads of it (at most MAX_FILES)."""
    from bake.worker.context import listing

    out: dict[str, str] = {}
    for rel, st in listing(root, patterns, cache)[:MAX_FILES]:  # as the context's checksum read it
        full = os.path.join(root, rel)
        if stat.S_ISREG(st.st_mode):
            what = f"{stat.S_IMODE(st.st_mode):o} {cache.digest(full, st)[7:23]}"
        elif stat.S_ISLNK(st.st_mode):
            what = f"-> {os.readlink(full)}"
        else:
            what = f"{stat.S_IMODE(st.st_mode):o} {st.st_mode >> 12}"
        out[_FILE + rel] = what
    return out


def render(r: Reason) -> str:
    """The causes in words, the first one first."""
    return "; and ".join(_one(c) for c in r.causes())


def _one(r: Reason) -> str:
    text = _own(r)
    if r.via_parent:
        where = f" ({r.location})" if r.location else ""
        return f"parent step ran: {r.name}{where}: {text}"
    return text


def _own(r: Reason) -> str:
    if r.kind == "first":
        return "first build of this target on this root"
    if r.kind == "no-cache":
        return "no-cache (--no-cache or no-cache-filter): runs regardless of the cache"
    if r.kind == "gone":
        return "same inputs as last time, but the cached result is gone (pruned, or never stored)"
    if r.kind == "instruction":
        return f"instruction changed at {r.location or '?'}: {r.old} → {r.new}"
    if r.kind == "salt":
        files = Change(tuple(k[len(_FILE):] for k in r.change.added if k.startswith(_FILE)),
                       tuple(k[len(_FILE):] for k in r.change.removed if k.startswith(_FILE)),
                       tuple((k[len(_FILE):], a, b) for k, a, b in r.change.modified if k.startswith(_FILE)))
        if files:
            return "context files changed: " + _files(files)
        if r.old.startswith("sha256:") and r.new.startswith("sha256:"):
            return f"the image now resolves to {r.new} (was {r.old})"
        return "what it reads changed (context files or source)"
    if r.kind == "definition":
        parts = [f"build arg {k[4:]} changed: {_shown(a)} → {_shown(b)}" for k, a, b in r.change.modified
                 if k.startswith("arg:")]
        parts += [f"build arg {k[4:]} added" for k in r.change.added if k.startswith("arg:")]
        parts += [f"build arg {k[4:]} removed" for k in r.change.removed if k.startswith("arg:")]
        parts += [f"platform changed: {a} → {b}" for k, a, b in r.change.modified if k == "platform"]
        if parts:
            return "; ".join(parts)
        return "its definition changed, not its text (a build arg, the platform, a flag or an earlier instruction)"
    if r.kind == "new":
        return f"a new step{f' at {r.location}' if r.location else ''} (no counterpart in the last build)"
    return "its inputs changed"


def _shown(value: str) -> str:
    return value if value else '""'


def _files(c: Change) -> str:
    parts = []
    for what, names in (("modified", [m[0] for m in c.modified]), ("added", list(c.added)),
                        ("removed", list(c.removed))):
        if names:
            more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
            parts.append(f"{what} {', '.join(names[:SHOWN])}{more}")
    n = len(c.modified) + len(c.added) + len(c.removed)
    return f"{'; '.join(parts)} ({n} path{'s' if n != 1 else ''})"


def _path(folder: str, label: str) -> str:
    return os.path.join(folder, hashlib.sha256(label.encode()).hexdigest()[:24] + ".json")


def load(root: str) -> dict[str, tuple[Record, dict[str, Any]]]:
    """label → (record, document) of every target recorded under ``root``; damaged files are skipped."""
    folder = StateRoot(root).explain
    out: dict[str, tuple[Record, dict[str, Any]]] = {}
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return out
    for name in names:
        try:
            with open(os.path.join(folder, name), "rb") as f:
                doc = json.loads(f.read())
            out[str(doc["target"])] = (decode(doc["record"]), doc)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def last_run(root: str, targets: Sequence[str]) -> list[str]:
    """``bake explain [TARGET…]``: the recorded reasons of the last build of each target (all when none)."""
    docs = load(root)
    lines: list[str] = []
    wanted = set(targets)
    for label, (_, doc) in sorted(docs.items()):
        if wanted and label not in wanted and label.split(" (")[0] not in wanted:
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(doc.get("at", 0))))
        reasons = list(doc.get("reasons", []))
        status = "failed" if doc.get("failed") else "built"
        lines.append(f"{label}: {status} {when}, {len(reasons) or 'no'} step{'s' if len(reasons) != 1 else ''} ran")
        lines.extend(f"  {line}" for line in reasons)
    missing = [t for t in targets if not any(t == lb or lb.split(" (")[0] == t for lb in docs)]
    lines.extend(f"{t}: no build recorded on this root" for t in missing)
    return lines



def planned(resolved: Resolved, root_override: str | None = None) -> list[str]:
    """``bake --plan --explain``: before building, which steps the cache holds and which would run,
    and why — from recorded image digests and the context files only (nothing runs or is fetched)."""
    from bake.app import graph_roots
    from bake.app.outputs import Root
    from bake.app.roots import labels as labelled
    from bake.graph.digest import digest
    from bake.model import local_platform
    from bake.solver.explain import forecast
    from bake.solver.keyplan import KeyPlan
    from bake.worker.worker import Worker

    req, plan = resolved.request, resolved.plan
    env = dict(os.environ if req.env is None else req.env)
    root = StateRoot.locate(env, root_override).path
    env["BAKE_ROOT"] = root
    converted = graph_roots(replace(resolved, request=replace_env(req, env)))
    worker = Worker.open(root)
    keys: KeyPlan[Vertex] = KeyPlan(digest)
    why = Explanations(root, keys, req.cwd, worker.statcache, lambda e: None, False)
    from bake.content.imageconfig import ImageConfig

    labels = labelled([Root(r.target, r.platform, r.vertex, ImageConfig()) for r in converted])
    for label, r in zip(labels, converted, strict=True):
        why.add(plan, label, r.target, r.platform, r.vertex)
    salts = worker.salts(req.cwd, local_platform(), pull=False)
    f = forecast(keys, [r.vertex for r in converted if r.vertex is not None], salts.salt,
                 lambda k: (hit := worker.cache.get(k)) is not None and worker.usable(hit))
    owners: dict[str, list[str]] = {}
    for label, r in zip(labels, converted, strict=True):
        for ident in _reachable(keys, r.vertex):
            owners.setdefault(ident, []).append(label)
    lines = [f"{len(f.cached)} step{'s' if len(f.cached) != 1 else ''} from the cache, {len(f.run)} to run"
             + (f", {len(f.unknown)} unknown until resolved" if f.unknown else "")]
    for ident in reversed(f.run):
        v = why.explainer.vertices[ident]
        lines.append(f"run {v.name}: {render(why.explainer.why(ident, owners.get(ident, [])))}")
    for ident in reversed(f.unknown):
        lines.append(f"may run {why.explainer.vertices[ident].name}: its key needs the network "
                     "(an image not resolved on this root, a git or URL source, or --pull)")
    return lines


def _reachable(keys: KeyPlan[Vertex], root: Vertex | None) -> set[str]:
    seen: set[str] = set()
    stack = [root] if root is not None else []
    while stack:
        v = stack.pop()
        ident = keys.identity(v)
        if ident not in seen:
            seen.add(ident)
            stack.extend(v.inputs)
    return seen


def replace_env(req: Request, env: dict[str, str]) -> Request:
    from bake.app import Request

    return Request(req.files, req.targets, req.overrides, req.variables, req.cwd, env, req.stdin)
