"""Instructions → build stages: names, bases, global ARGs, stage references and the target's needs.

BuildKit's rules: ARGs before the first FROM are *global* and only visible in FROM lines (a stage
sees one after re-declaring it with ``ARG NAME``); build args override declared ARGs; the
automatic platform ARGs are global too. A stage's base or a ``--from`` names a stage (by name,
earlier or later, or by an earlier index), a named context (bake ``contexts``), or else an image. Only the stages the target
needs are kept, in dependency order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bake._record import record
from bake.dockerfile import instructions as ins
from bake.dockerfile.shell import ExpansionError, expand_word
from bake.errors import DockerfileError

STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
PLATFORM_ARGS = ("BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
                 "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT")


@record
class Ref:
    """What a FROM or ``--from`` points at: ``kind`` is "stage" (``value`` its index as text),
    "context" (a bake named context) or "image" (an image reference), or "scratch"."""

    kind: str
    value: str


@record
class Stage:
    index: int
    name: str | None
    base: Ref
    platform: str | None
    instructions: tuple[ins.Instruction, ...]
    deps: tuple[int, ...]
    loc: ins.Location


@record
class Stages:
    """All stages; ``target`` the chosen one; ``needed`` the stages it depends on, dependencies first."""

    stages: tuple[Stage, ...]
    global_args: dict[str, str | None]
    target: int
    needed: tuple[int, ...]


def platform_args(build: str, target: str) -> dict[str, str]:
    """The automatic ARGs for ``os/arch[/variant]`` build and target platforms."""
    out: dict[str, str] = {}
    for prefix, plat in (("BUILD", build), ("TARGET", target)):
        parts = plat.split("/")
        out[f"{prefix}PLATFORM"] = plat
        out[f"{prefix}OS"] = parts[0]
        out[f"{prefix}ARCH"] = parts[1] if len(parts) > 1 else ""
        out[f"{prefix}VARIANT"] = parts[2] if len(parts) > 2 else ""
    return out


def split_stages(
    instrs: list[ins.Instruction],
    build_args: Mapping[str, str],
    auto_args: Mapping[str, str],
    target: str | None = None,
    named_contexts: frozenset[str] = frozenset(),
    escape: str = "\\",
) -> Stages:
    """Split ``instrs`` into stages and pick ``target`` (default: the last stage)."""
    global_args: dict[str, str | None] = {}
    i = 0
    while i < len(instrs) and not isinstance(instrs[i], ins.From):
        inst = instrs[i]
        if not isinstance(inst, ins.Arg):
            raise _error("no build stage in current context", inst.loc)
        env = _global_env(global_args, build_args, auto_args)
        for name, default in inst.pairs:
            value = _expand(default, env, inst.loc, escape) if default is not None else None
            global_args[name] = build_args.get(name, value)
        i += 1
    if i == len(instrs):
        raise DockerfileError("the Dockerfile has no FROM instruction", instrs[0].loc.file if instrs else "Dockerfile", 1)
    genv = _global_env(global_args, build_args, auto_args)
    stages: list[Stage] = []
    names: dict[str, int] = {}
    # Stage names are known up front: a FROM or --from may name a later stage (cycles are errors).
    heads = [inst for inst in instrs[i:] if isinstance(inst, ins.From)]
    all_names = {h.name: n for n, h in reversed(list(enumerate(heads))) if h.name is not None}
    while i < len(instrs):
        head = instrs[i]
        assert isinstance(head, ins.From)
        body: list[ins.Instruction] = []
        i += 1
        while i < len(instrs) and not isinstance(instrs[i], ins.From):
            body.append(instrs[i])
            i += 1
        index = len(stages)
        if head.name is not None:
            if not STAGE_NAME.match(head.name):
                raise _error(f"invalid name for build stage: {head.name!r}, name can't start with a number or contain symbols", head.loc)
            if head.name in names:
                raise _error(f'duplicate stage name "{head.name}"', head.loc)
        image = _expand(head.image, genv, head.loc, escape)
        if not image:
            raise _error(f"base name ({head.image}) should not be blank", head.loc)
        base = _ref(image, all_names, index, named_contexts, head.loc, is_from=True)
        platform = _expand(head.platform, genv, head.loc, escape) if head.platform else None
        deps = [int(base.value)] if base.kind == "stage" else []
        stage_env = _StageEnv(global_args, build_args, auto_args, escape)
        for inst in body:
            stage_env.apply(inst)
            for ref_text in _from_refs(inst):
                ref = _ref(_expand(ref_text, stage_env.values, inst.loc, escape), all_names, index, named_contexts,
                           inst.loc, is_from=False)
                if ref.kind == "stage" and int(ref.value) not in deps:
                    deps.append(int(ref.value))
        stages.append(Stage(index, head.name, base, platform, tuple(body), tuple(deps), head.loc))
        if head.name is not None:
            names[head.name] = index
    chosen = len(stages) - 1
    if target:
        if target.lower() not in names:
            raise DockerfileError(f'target stage "{target}" could not be found', stages[0].loc.file, stages[0].loc.start_line)
        chosen = names[target.lower()]
    return Stages(tuple(stages), global_args, chosen, _needed(stages, chosen))


def _ref(text: str, names: dict[str, int], current: int, contexts: frozenset[str], loc: ins.Location, is_from: bool) -> Ref:
    if text in contexts:
        return Ref("context", text)
    low = text.lower()
    if low in names:
        if names[low] == current and is_from:
            return Ref("image", text)  # `FROM x AS x` names the image x, not itself
        return Ref("stage", str(names[low]))
    if not is_from and text.isdigit():
        n = int(text)
        if n >= current:
            raise _error(f"invalid from flag value {text}: refers to current or future build stage", loc)
        return Ref("stage", text)
    if is_from and low == "scratch":
        return Ref("scratch", "")
    return Ref("image", text)


def _from_refs(inst: ins.Instruction) -> list[str]:
    """The stage/image names an instruction reads from (``COPY --from``, ``RUN --mount=from=``)."""
    if isinstance(inst, ins.Copy) and inst.from_:
        return [inst.from_]
    if isinstance(inst, ins.Run):
        return [m.from_ for m in inst.mounts if m.from_]
    return []


def _needed(stages: list[Stage], target: int) -> tuple[int, ...]:
    order: list[int] = []
    visiting: set[int] = set()

    def visit(i: int) -> None:
        if i in order:
            return
        if i in visiting:
            raise _error("circular dependency detected on stage: " + (stages[i].name or str(i)), stages[i].loc)
        visiting.add(i)
        for d in stages[i].deps:
            visit(d)
        visiting.discard(i)
        order.append(i)

    visit(target)
    return tuple(order)


def _global_env(global_args: Mapping[str, str | None], build_args: Mapping[str, str],
                auto_args: Mapping[str, str]) -> dict[str, str]:
    env = dict(auto_args)
    env.update({k: v for k, v in global_args.items() if v is not None})
    return env


class _StageEnv:
    """The variables a stage's words expand with at each point: declared ARGs and ENVs so far."""

    def __init__(self, global_args: Mapping[str, str | None], build_args: Mapping[str, str],
                 auto_args: Mapping[str, str], escape: str) -> None:
        self.escape = escape
        self.global_args = global_args
        self.build_args = build_args
        self.auto_args = auto_args
        self.values: dict[str, str] = {}

    def apply(self, inst: ins.Instruction) -> None:
        if isinstance(inst, ins.Arg):
            for name, default in inst.pairs:
                if name in self.build_args:
                    self.values[name] = self.build_args[name]
                elif default is not None:
                    self.values[name] = _expand(default, self.values, inst.loc, self.escape)
                elif name in self.auto_args:
                    self.values[name] = self.auto_args[name]
                elif self.global_args.get(name) is not None:
                    self.values[name] = self.global_args[name]  # type: ignore[assignment]
        elif isinstance(inst, ins.Env):
            for name, raw in inst.pairs:
                self.values[name] = _expand(raw, self.values, inst.loc, self.escape)


def _expand(word: str, env: Mapping[str, str], loc: ins.Location, escape: str = "\\") -> str:
    try:
        return expand_word(word, env, escape)
    except ExpansionError as err:
        raise _error(err.message, loc) from None


def _error(message: str, loc: ins.Location) -> DockerfileError:
    return DockerfileError(message, loc.file, loc.start_line)
