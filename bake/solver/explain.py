"""Why a step ran: its key's inputs now, compared with those recorded at the last build of the target.

A ``Record`` is what the ``KeyPlan`` knew of one target's graph: per vertex identity, its name,
location, salt, input identities and input keys, its key, and ``facts`` — named values the backend
says its salt was made of (``file:app.py`` → digest). Target-level ``facts`` (build args, platform)
are the app's. Nothing here knows what a vertex is; ``Reason`` names a cause and the app words it.

The cause of a step that ran, first match wins: it runs regardless of the cache; no record (first
build); same identity and key (the stored result is gone); same identity, another salt (what the
facts say changed); an input whose key changed (the cause is that input's: the chain is followed to
its root); a new identity whose location held another instruction; a new identity with the same
instruction text (the definition changed: a build arg, the platform); a step with no counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic

from bake._record import record, replace
from bake.solver.keyplan import KeyPlan
from bake.solver.protocols import V

Facts = tuple[tuple[str, str], ...]


@record
class StepRecord:
    name: str
    location: str = ""
    salt: str = ""
    inputs: tuple[str, ...] = ()  # identities
    keys: tuple[str, ...] = ()  # input keys ("" replaced by the salt, or unknown)
    key: str = ""  # "" unknown (a step that runs regardless of the cache)
    facts: Facts = ()


@record
class Record:
    """The last build of one target (label): its root and every step it needed."""

    root: str
    steps: Mapping[str, StepRecord]
    facts: Facts = ()


@record
class Change:
    """Facts (or target facts) that differ: names added, removed, and (name, old, new) modified."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[tuple[str, str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


@record
class Reason:
    """``kind``: first | no-cache | gone | salt | instruction | definition | new | unknown. ``root``
    is the identity of the step the cause belongs to (another step when a parent's change made this
    one run: ``via_parent``); ``old``/``new`` the instruction text or salt that changed."""

    kind: str
    root: str
    name: str = ""
    location: str = ""
    old: str = ""
    new: str = ""
    change: Change = Change()
    via_parent: bool = False
    also: tuple[Reason, ...] = ()  # further causes (each its own root), when more than one input changed

    def causes(self) -> tuple[Reason, ...]:
        """Every cause, this one first, each once and without its ``also``."""
        return (replace(self, also=()), *self.also)


def diff(old: Facts, new: Facts) -> Change:
    o, n = dict(old), dict(new)
    return Change(tuple(sorted(n.keys() - o.keys())), tuple(sorted(o.keys() - n.keys())),
                  tuple((k, o[k], n[k]) for k in sorted(o.keys() & n.keys()) if o[k] != n[k]))


def capture(plan: KeyPlan[V], root: V, facts: Callable[[V], Facts], target_facts: Facts = ()) -> Record:
    """The record of ``root``'s graph from what ``plan`` knows now."""
    steps: dict[str, StepRecord] = {}
    stack = [root]
    while stack:
        v = stack.pop()
        ident = plan.identity(v)
        if ident in steps:
            continue
        steps[ident] = step_record(plan, v, facts)
        stack.extend(v.inputs)  # type: ignore[arg-type]
    return Record(plan.identity(root), steps, target_facts)


def step_record(plan: KeyPlan[V], v: V, facts: Callable[[V], Facts]) -> StepRecord:
    salt = plan.salt(v)
    inputs: list[V] = list(v.inputs)  # type: ignore[arg-type]
    keys = tuple("" if salt is not None and n in salt.replaces else plan.bases.get(plan.identity(i), "")
                 for n, i in enumerate(inputs))
    return StepRecord(v.name, v.location, salt.text if salt is not None else "",
                      tuple(plan.identity(i) for i in inputs), keys, plan.bases.get(plan.identity(v), ""),
                      facts(v) if salt is not None and salt.text else ())


class Explainer(Generic[V]):
    """Explains steps as they start, from the key plan's current knowledge and the previous records."""

    def __init__(self, plan: KeyPlan[V], facts: Callable[[V], Facts], previous: Mapping[str, Record]) -> None:
        self.plan = plan
        self.facts = facts
        self.previous = previous
        self.vertices: dict[str, V] = {}
        self.target_facts: dict[str, Facts] = {}
        self._facts: dict[str, Facts] = {}

    def add(self, label: str, root: V | None, target_facts: Facts = ()) -> None:
        """A root of this build (label → vertex) and the target-level facts it was made with."""
        self.target_facts[label] = target_facts
        stack = [root] if root is not None else []
        while stack:
            v = stack.pop()
            ident = self.plan.identity(v)
            if ident not in self.vertices:
                self.vertices[ident] = v
                stack.extend(v.inputs)  # type: ignore[arg-type]

    def fact(self, v: V) -> Facts:
        ident = self.plan.identity(v)
        if ident not in self._facts:
            self._facts[ident] = self.facts(v)
        return self._facts[ident]

    def record(self, label: str, root: V) -> Record:
        return capture(self.plan, root, self.fact, self.target_facts.get(label, ()))

    def why(self, ident: str, labels: Sequence[str]) -> Reason:
        """Why the step ``ident`` (needed by ``labels``) runs."""
        v = self.vertices[ident]
        olds = [self.previous[lb] for lb in labels if lb in self.previous]
        if v.ignore_cache:
            return Reason("no-cache", ident, v.name, v.location)
        if not olds:
            return Reason("first", ident, v.name, v.location)
        steps: dict[str, StepRecord] = {}
        for o in olds:
            steps.update(o.steps)
        old_facts = dict(olds[0].facts)
        new_facts = dict(self.target_facts.get(next(lb for lb in labels if lb in self.previous), ()))
        return self._cause(ident, steps, Change() if old_facts == new_facts else diff(
            tuple(old_facts.items()), tuple(new_facts.items())), set())

    def _cause(self, ident: str, steps: Mapping[str, StepRecord], targets: Change, seen: set[str]) -> Reason:
        """The step's own change, if any, then every changed input's causes followed to their roots:
        the first is the reason, the rest its ``also``."""
        v = self.vertices[ident]
        causes = self._causes(ident, steps, targets, seen) or [Reason("unknown", ident, v.name, v.location)]
        return replace(causes[0], also=tuple(causes[1:]))

    def _causes(self, ident: str, steps: Mapping[str, StepRecord], targets: Change, seen: set[str]) -> list[Reason]:
        """[] when every changed input was already explained (a diamond: a root is named once)."""
        seen.add(ident)
        v = self.vertices[ident]
        new = step_record(self.plan, v, self.fact)
        old = steps.get(ident)
        causes: list[Reason] = []
        if old is not None:
            if new.key and old.key == new.key:
                return [Reason("gone", ident, v.name, v.location)]
            if old.salt != new.salt:
                causes.append(Reason("salt", ident, v.name, v.location, old.salt, new.salt, diff(old.facts, new.facts)))
        else:
            counterpart = self._counterpart(new, steps)
            if counterpart is not None and counterpart.name != new.name:
                causes.append(Reason("instruction", ident, v.name, v.location, counterpart.name, new.name))
        covered = False
        for n, parent in enumerate(new.inputs):
            if parent not in self.vertices or not new.keys[n]:
                continue  # "": an input the salt stands in for (its files are in the salt)
            before = steps.get(parent)
            if before is not None and before.key and before.key == new.keys[n]:
                continue
            if old is not None and n < len(old.keys) and old.keys[n] == new.keys[n] and old.inputs[n] == parent:
                continue
            if parent in seen:
                covered = True
                continue
            causes.extend(replace(c, via_parent=True) for c in self._causes(parent, steps, targets, seen))
        if causes or covered:
            return causes
        if old is None:
            if self._counterpart(new, steps) is not None:
                return [Reason("definition", ident, v.name, v.location, change=targets)]
            return [Reason("new", ident, v.name, v.location)]
        return [Reason("unknown", ident, v.name, v.location)]

    @staticmethod
    def _counterpart(new: StepRecord, steps: Mapping[str, StepRecord]) -> StepRecord | None:
        """The old step defined where this one is (same location), if any."""
        if not new.location:
            return None
        return next((s for s in steps.values() if s.location == new.location), None)


def encode(r: Record) -> dict[str, Any]:
    return {"root": r.root, "facts": dict(r.facts),
            "steps": {k: {"name": s.name, "location": s.location, "salt": s.salt, "inputs": list(s.inputs),
                          "keys": list(s.keys), "key": s.key, "facts": dict(s.facts)} for k, s in r.steps.items()}}


def decode(d: Mapping[str, Any]) -> Record:
    steps = {str(k): StepRecord(str(s["name"]), str(s.get("location", "")), str(s.get("salt", "")),
                                tuple(map(str, s.get("inputs", ()))), tuple(map(str, s.get("keys", ()))),
                                str(s.get("key", "")), tuple((str(a), str(b)) for a, b in dict(s.get("facts", {})).items()))
             for k, s in dict(d["steps"]).items()}
    return Record(str(d["root"]), steps, tuple((str(a), str(b)) for a, b in dict(d.get("facts", {})).items()))


@record
class Forecast:
    """A dry run: the steps a build would take from the cache, run, or cannot tell without the network."""

    cached: tuple[str, ...] = ()
    run: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()  # identities whose key needs a salt only the network can answer


def forecast(plan: KeyPlan[V], roots: Sequence[V], salt_of: Callable[[V], Any], hit: Callable[[str], bool]) -> Forecast:
    """Which steps solving ``roots`` would run: keys from salts ``salt_of`` answers offline (None:
    unknown), a step whose key ``hit``s the cache is taken from it and its inputs are not needed."""
    keys: dict[str, str | None] = {}

    def key(v: V) -> str | None:
        ident = plan.identity(v)
        if ident not in keys:
            keys[ident] = None
            known = plan.base(v)
            salt = plan.salt(v) or (None if v.ignore_cache else salt_of(v))
            inputs: list[V] = list(v.inputs)  # type: ignore[arg-type]
            if known is None and salt is not None:
                needed = [None if n in salt.replaces else key(i) for n, i in enumerate(inputs)]
                if all(k is not None for n, k in enumerate(needed) if n not in salt.replaces):
                    known = plan.add(v, salt, needed)
            keys[ident] = known
        return keys[ident]

    cached: dict[str, None] = {}
    run: dict[str, None] = {}
    unknown: dict[str, None] = {}
    stack = list(reversed(roots))
    while stack:
        v = stack.pop()
        ident = plan.identity(v)
        if ident in cached or ident in run or ident in unknown:
            continue
        k = key(v)
        if k is not None and not v.ignore_cache and hit(k):
            cached[ident] = None
            continue
        (run if k is not None or v.ignore_cache else unknown)[ident] = None
        stack.extend(reversed(v.inputs))  # type: ignore[arg-type]
    return Forecast(tuple(cached), tuple(run), tuple(unknown))
