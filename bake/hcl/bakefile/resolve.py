"""Requested names → the resolved plan: groups expanded, ``inherits`` merged, ``--set`` applied,
``target:`` contexts linked."""

from __future__ import annotations

from bake.errors import DefinitionError, UsageError
from bake.hcl.bakefile.definition import Definition
from bake.hcl.bakefile.merge import dedupe, merge, normalize
from bake.hcl.bakefile.overrides import Override, apply, check_patterns, glob_regex, is_glob
from bake.model import ExportEntry, Group, Plan, Target


class Resolver:
    def __init__(self, defn: Definition, overrides: list[Override], extra_groups: dict[str, Group] | None = None) -> None:
        self.defn = defn
        self.overrides = overrides
        self.groups: dict[str, Group] = dict(extra_groups or {})
        for label, names in defn.matrix_groups().items():
            self.groups[label] = Group(label, tuple(names))
        for name in defn.group_blocks:
            self.groups[name] = defn.group(name)
        self.blocks: dict[str, Target] = {}
        for name, insts in defn.instances().items():
            acc: Target | None = None
            for inst in insts:
                t = defn.target(inst)
                acc = t if acc is None else merge(acc, t)
            assert acc is not None
            self.blocks[name] = acc
        self._resolved: dict[str, Target | None] = {}

    def target_names(self) -> list[str]:
        return sorted(self.blocks)

    def _unknown(self, name: str) -> UsageError:
        """buildx's message, and the near name when there is one (bake's addition)."""
        import difflib

        near = difflib.get_close_matches(name, [*self.blocks, *self.groups], n=1, cutoff=0.75)
        return UsageError(f"failed to find target {name}" + (f" (did you mean {near[0]}?)" if near else ""))

    def resolve(self, name: str) -> Target | None:
        if name in self._resolved:
            return self._resolved[name]  # None while in progress: inherits cycles are ignored
        self._resolved[name] = None
        block = self.blocks.get(name)
        if block is None:
            raise self._unknown(name)
        acc: Target | None = None
        for parent in block.inherits or ():
            r = self.resolve(parent)
            if r is not None:
                acc = r if acc is None else merge(acc, r)
        result = block if acc is None else merge(acc, block).evolve(name=name)
        result = normalize(apply(result, self.overrides))
        self._resolved[name] = result
        return result

    # --- requested names --------------------------------------------------------------------

    def expand(self, requested: list[str]) -> tuple[list[str], dict[str, Group], list[str]]:
        """(target names in request order, groups reached, requested names after globbing)."""
        names: list[str] = []
        for r in requested:
            r = r.replace(".", "_")  # compose service names may contain dots
            if is_glob(r):
                rx = glob_regex(r)
                matched = [g for g in sorted(self.groups) if rx.match(g)] + [t for t in sorted(self.blocks) if rx.match(t) and t not in self.groups]
                if not matched:
                    raise UsageError(f'could not find any target matching "{r}"')
                names.extend(matched)
            else:
                names.append(r)
        reached: dict[str, Group] = {}
        targets: list[str] = []
        for n in names:
            self._expand_one(n, reached, targets, set())
        return targets, reached, list(dedupe(names))

    def _expand_one(self, name: str, reached: dict[str, Group], out: list[str], visiting: set[str]) -> None:
        group = self.groups.get(name)
        if group is not None and name not in visiting:
            reached[name] = Group(group.name, dedupe(group.targets), group.description)
            visiting = visiting | {name}
            for member in group.targets:
                if member == name:
                    if name in self.blocks and name not in out:
                        out.append(name)
                    continue
                self._expand_one(member, reached, out, visiting)
            return
        if group is not None:
            return
        if name not in self.blocks:
            raise self._unknown(name)
        if name not in out:
            out.append(name)

    def plan(self, requested: list[str]) -> Plan:
        check_patterns(self.overrides, list(self.blocks))
        target_names, reached, req = self.expand(requested)
        targets: dict[str, Target] = {}
        for n in target_names:
            t = self.resolve(n)
            assert t is not None
            targets[n] = t
        self._link(targets, set(target_names))
        groups = dict(sorted(reached.items()))
        # The printed "default" group: the requested names (or the requested default group's members
        # plus the other requested names), deduplicated and sorted, as buildx prints it.
        extra = [n for n in req if n != "default" or "default" not in reached]
        base = reached["default"] if "default" in reached else Group("default")
        groups["default"] = Group("default", tuple(sorted({*base.targets, *extra})), base.description)
        return Plan(dict(sorted(groups.items())), dict(sorted(targets.items())))

    def _link(self, targets: dict[str, Target], requested: set[str]) -> None:
        pending = list(targets)
        while pending:
            name = pending.pop(0)
            t = targets[name]
            for ctx in (t.contexts or {}).values():
                if not ctx.startswith("target:"):
                    continue
                other = ctx[len("target:"):]
                if other == name:
                    raise DefinitionError(f"target {name} cannot link to itself")
                self._check_loop(name, other, set())
                linked = self.resolve(other)
                if linked is None:
                    raise UsageError(f"failed to find target {other}")
                if other not in targets:
                    if other not in requested:
                        linked = linked.evolve(output=(ExportEntry("cacheonly"),))
                    targets[other] = linked
                    pending.append(other)
                lp, tp = targets[other].platforms or (), t.platforms or ()
                if len(lp) > 1 and len(tp) > 1 and not set(tp) <= set(lp):
                    raise DefinitionError(
                        f"target {other} can't be used by {name} because its platforms {_go_list(tp)} are not a subset of {_go_list(lp)}")
                if targets[other].entitlements:
                    ents = (*(t.entitlements or ()), *targets[other].entitlements)  # type: ignore[misc]
                    t = t.evolve(entitlements=dedupe(ents))
                    targets[name] = t

    def _check_loop(self, start: str, current: str, seen: set[str]) -> None:
        block = self.blocks.get(current)
        if block is None or current in seen:
            return
        seen = seen | {current}
        for ctx in (block.contexts or {}).values():
            if ctx.startswith("target:"):
                nxt = ctx[len("target:"):]
                if nxt == start:
                    raise DefinitionError(f"infinite loop from {start} to {current}")
                self._check_loop(start, nxt, seen)


def _go_list(items: tuple[str, ...]) -> str:
    return "[" + " ".join(items) + "]"

