"""``bake builders``: every builder bake can use, as ``docker buildx ls`` shows them — the embedded
worker, then buildx's store in name order, then the Docker contexts (``docker`` driver) — with each node's endpoint, status, BuildKit version
and platforms (pinned ones marked ``*``, then what the daemon's workers report). Nodes are asked
concurrently, each with a short timeout; one that does not answer is ``inactive`` and why is
printed under the table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from bake._record import record
from bake.buildkit import BuilderError
from bake.buildkit.builders import EMBEDDED, Builder, config_dir, load, selected_name, tls


@record
class NodeStatus:
    name: str
    endpoint: str
    status: str  # running | inactive
    version: str
    platforms: tuple[str, ...]  # pinned ones end in "*"
    error: str = ""


@record
class BuilderStatus:
    name: str
    driver: str
    current: bool
    nodes: tuple[NodeStatus, ...]
    error: str = ""


def stored(env: Mapping[str, str]) -> list[str]:
    """The names in buildx's store, sorted."""
    store = os.path.join(config_dir(env), "buildx", "instances")
    try:
        return sorted(n for n in os.listdir(store) if not n.startswith("."))
    except FileNotFoundError:
        return []


async def statuses(env: Mapping[str, str], embedded_platform: str, timeout: float = 5.0) -> list[BuilderStatus]:
    """Every builder and its nodes' state (the daemons asked concurrently)."""
    import anyio

    current = selected_name(None, env) or EMBEDDED
    out = [BuilderStatus(EMBEDDED, EMBEDDED, current == EMBEDDED,
                         (NodeStatus(EMBEDDED, "", "running", "", (embedded_platform,)),))]
    builders: list[Builder | BuilderError] = []
    for name in stored(env):
        try:
            builders.append(load(name, env))
        except BuilderError as err:
            builders.append(err)
    builders += _contexts(env, {n.lower() for n in stored(env)})
    found: dict[tuple[int, int], NodeStatus] = {}
    async with anyio.create_task_group() as tg:
        for i, b in enumerate(builders):
            if isinstance(b, Builder):
                for j in range(len(b.nodes)):
                    tg.start_soon(_ask, b, j, timeout, found, (i, j))
    for i, b in enumerate(builders):
        if isinstance(b, BuilderError):
            out.append(BuilderStatus(b.builder, "", b.builder.lower() == current.lower(), (), str(b)))
            continue
        nodes = tuple(found[(i, j)] for j in range(len(b.nodes)))
        out.append(BuilderStatus(b.name, b.driver, b.name.lower() == current.lower(), nodes))
    return out


async def _ask(b: Builder, j: int, timeout: float, found: dict[tuple[int, int], NodeStatus],
               key: tuple[int, int]) -> None:
    from bake.buildkit.control import Control

    node = b.nodes[j]
    pinned = tuple(f"{p}*" for p in node.platforms)
    from bake.buildkit.drivers import dialed

    try:
        if b.driver not in ("remote", "docker"):
            raise BuilderError(f"driver {b.driver!r} is not supported yet", b.name, node.name)
        async with dialed(b, node) as endpoint, Control(endpoint, b.name, node.name, tls(b, node)) as c:
            info = await c.info(timeout=timeout)
    except BuilderError as err:
        found[key] = NodeStatus(node.name, node.endpoint, "inactive", "", pinned, str(err))
        return
    reported = tuple(p for p in info.platforms if p not in node.platforms)
    found[key] = NodeStatus(node.name, node.endpoint, "running", info.version, pinned + reported)


def _contexts(env: Mapping[str, str], shadowed: set[str]) -> list[Builder | BuilderError]:
    """Docker contexts as buildx lists them after its store: ``docker`` builders (a stored builder
    of the same name wins)."""
    from bake.buildkit.drivers.docker import context_builder
    from bake.docker.context import names

    out: list[Builder | BuilderError] = []
    for name in names(env):
        if name.lower() in shadowed:
            continue
        try:
            found = context_builder(name, env)
        except BuilderError as err:
            out.append(err)
            continue
        if found is not None:
            out.append(found)
    return out


def table(builders: Sequence[BuilderStatus]) -> str:
    """The listing as ``docker buildx ls`` lays it out (current builder marked ``*``)."""
    rows = [("NAME/NODE", "DRIVER/ENDPOINT", "STATUS", "BUILDKIT", "PLATFORMS")]
    errors = []
    for b in builders:
        rows.append((b.name + ("*" if b.current else ""), b.driver, "error" if b.error else "", "", ""))
        if b.error:
            errors.append(f"Cannot load builder {b.name}: {b.error}")
        for n in b.nodes:
            if b.driver == EMBEDDED:  # one implicit node: its state on the builder's own line
                rows[-1] = (rows[-1][0], b.driver, n.status, n.version, ", ".join(n.platforms))
                continue
            rows.append((f" \\_ {n.name}", f" \\_ {n.endpoint}", n.status, n.version, ", ".join(n.platforms)))
            if n.error:
                errors.append(n.error)  # names builder and node
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "   " + r[4] for r in rows]
    text = "\n".join(line.rstrip() for line in lines) + "\n"
    if errors:
        text += "\n" + "\n".join(errors) + "\n"
    return text
