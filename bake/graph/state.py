"""An immutable builder for graphs, read left to right: ``image(ref).run(cmd).root()``.

A ``State`` is a filesystem (a vertex output, or scratch) plus the process settings the next
``run`` uses (env, working directory, user). Every method returns a new State.
"""

from __future__ import annotations

from bake._record import record, replace
from bake.graph.ops import Copy, ExecOp, FileAction, FileOp, MergeOp, Mount, SourceOp, Vertex


@record
class State:
    vertex: Vertex | None  # None: an empty filesystem
    platform: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = "/"
    user: str = ""

    def with_env(self, key: str, value: str) -> State:
        return replace(self, env=(*((k, v) for k, v in self.env if k != key), (key, value)))

    def with_cwd(self, path: str) -> State:
        return replace(self, cwd=path)

    def with_user(self, user: str) -> State:
        return replace(self, user=user)

    def run(
        self, args: tuple[str, ...], *, mounts: tuple[tuple[Mount, State | None], ...] = (),
        network: str = "default", security: str = "sandbox", name: str = "", ignore_cache: bool = False,
        extra_hosts: tuple[str, ...] = (), shm_size: int | None = None, ulimits: tuple[str, ...] = (),
    ) -> State:
        """Run ``args`` with this state as the root filesystem; the result is the changed root.

        ``mounts`` pairs each extra mount with the state it reads from (None: nothing to read)."""
        inputs: list[Vertex] = []

        def index(state: State | None) -> int | None:
            if state is None or state.vertex is None:
                return None
            if state.vertex not in inputs:
                inputs.append(state.vertex)
            return inputs.index(state.vertex)

        root = Mount("/", input=index(self), output=True)
        extra = tuple(replace(m, input=index(src)) for m, src in mounts)
        op = ExecOp(args, tuple(f"{k}={v}" for k, v in self.env), self.cwd, self.user, (root, *extra), network, security,
                    extra_hosts, shm_size, ulimits)
        return replace(self, vertex=Vertex(op, tuple(inputs), self.platform, name, ignore_cache))

    def file(self, actions: tuple[tuple[FileAction, State | None], ...], name: str = "",
             ignore_cache: bool = False) -> State:
        """Apply file actions on this state; a Copy pairs with the state it copies from."""
        inputs: list[Vertex] = [self.vertex] if self.vertex is not None else []
        resolved: list[FileAction] = []
        for action, src in actions:
            if isinstance(action, Copy):
                if src is None or src.vertex is None:
                    raise ValueError("a copy needs a source state with content")
                if src.vertex not in inputs:
                    inputs.append(src.vertex)
                action = replace(action, source=inputs.index(src.vertex))
            resolved.append(action)
        op = FileOp(0 if self.vertex is not None else None, tuple(resolved))
        return replace(self, vertex=Vertex(op, tuple(inputs), self.platform, name, ignore_cache))


def image(ref: str, platform: str | None = None, name: str = "") -> State:
    return State(Vertex(SourceOp(f"docker-image://{ref}"), (), platform, name or ref), platform)


def local(context: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), name: str = "") -> State:
    attrs = tuple((k, "\n".join(v)) for k, v in (("include", include), ("exclude", exclude)) if v)
    return State(Vertex(SourceOp(f"local://{context}", attrs), (), None, name or f"local://{context}"))


def scratch(platform: str | None = None) -> State:
    return State(None, platform)


def merge(states: tuple[State, ...], name: str = "") -> State:
    """Layer ``states`` (later wins); empty states are skipped."""
    inputs = tuple(s.vertex for s in states if s.vertex is not None)
    if not inputs:
        return states[0] if states else scratch()
    if len(inputs) == 1:
        return replace(states[-1], vertex=inputs[0])
    return replace(states[-1], vertex=Vertex(MergeOp(), inputs, states[-1].platform, name))
