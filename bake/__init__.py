"""bake: a declarative, multi-target container build orchestrator compatible with ``docker buildx bake``.

The public API never prompts and never prints::

    import bake
    plan = bake.load(["docker-bake.hcl"], targets=["default"])
    plan.targets["app"].tags
    graph = bake.plan(targets=["app"])                        # the merged graph, before building
    graph.requested, len(graph.vertices), graph.shared
    results = bake.build(targets=["app"], progress=print)   # progress: a callback of events
    results[0].executed, results[0].cached, results[0].outputs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bake.errors import BakeError, BuildFailed, DefinitionError, StepError, UsageError, ValidationError
from bake.model import Group, Plan, Target

if TYPE_CHECKING:
    from bake.app import Request
    from bake.app.outputs import TargetResult
    from bake.graph.analysis import Analysis
    from bake.progress.events import Sink

__all__ = ["BakeError", "BuildFailed", "DefinitionError", "Group", "Plan", "StepError", "Target", "UsageError",
           "ValidationError", "build", "load", "plan"]
__version__ = "0.1.0"


def load(
    files: Sequence[str] = (),
    targets: Sequence[str] = (),
    *,
    overrides: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    cwd: str = ".",
    env: Mapping[str, str] | None = None,
) -> Plan:
    """Read bake files as ``docker buildx bake --print`` does and return the resolved plan."""
    from bake.app import plan

    return plan(_request(files, targets, overrides, variables, cwd, env))


def plan(
    files: Sequence[str] = (),
    targets: Sequence[str] = (),
    *,
    overrides: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    cwd: str = ".",
    env: Mapping[str, str] | None = None,
) -> Analysis:
    """The merged build graph of every requested target and platform, as ``bake --plan`` shows it:
    vertices by digest, which targets share which, the critical path. Offline: base images' configs
    are those earlier builds recorded under the bake root, empty for images never resolved."""
    from bake.app import graph_roots
    from bake.graph.analysis import analyze

    return analyze(graph_roots(_request(files, targets, overrides, variables, cwd, env)))


def build(
    files: Sequence[str] = (),
    targets: Sequence[str] = (),
    *,
    overrides: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    cwd: str = ".",
    env: Mapping[str, str] | None = None,
    root: str | None = None,
    keep_going: bool = False,
    parallelism: int | None = None,
    allow: Sequence[str] = (),
    progress: Sink | None = None,
) -> list[TargetResult]:
    """Build as ``bake [targets]`` does and return one result per target (outputs written, steps
    executed and cached, snapshot ids). ``progress`` receives every event (``bake.progress.events``).
    A failed build raises ``StepError`` (or ``BuildFailed`` for several with ``keep_going``)."""
    from bake.app.build import BuildOptions
    from bake.app.build import build as run
    from bake.errors import ungrouped
    from bake.progress.events import discard

    req = _request(files, targets, overrides, variables, cwd, env)
    opts = BuildOptions(root=root, keep_going=keep_going, parallelism=parallelism, allow=tuple(allow))
    with ungrouped():
        return run(req, opts, progress or discard)


def _request(files: Sequence[str], targets: Sequence[str], overrides: Sequence[str],
             variables: Mapping[str, str] | None, cwd: str, env: Mapping[str, str] | None) -> Request:
    from bake.app import Request

    return Request(tuple(files), tuple(targets), tuple(overrides), dict(variables or {}), cwd, env)
