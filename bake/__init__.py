"""bake: a declarative, multi-target container build orchestrator compatible with ``docker buildx bake``.

The public API never prompts and never prints::

    import bake
    plan = bake.resolve(["docker-bake.hcl"], targets=["default"])   # the Plan, as --print shows it
    plan.targets["app"].tags
    graph = bake.analyze(targets=["app"])                           # the merged graph, as --plan shows it
    graph.requested, len(graph.vertices), graph.shared
    results = bake.build(targets=["app"], progress=print)   # progress: a callback of events
    results[0].executed, results[0].cached, results[0].outputs

Each call reads the bake files once and hands the resolved plan down. ``bake.load`` and
``bake.plan`` are the old names of ``resolve`` and ``analyze``: they still work and warn with a
``DeprecationWarning`` (``plan`` did not return a ``Plan``, which is what the rename mends).
"""

from __future__ import annotations

# typing costs 10 ms: a command that a build server answers (bake.cli.client) imports this package and
# nothing else, so names come from their modules on first use (``__getattr__`` below).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from bake.app import Request
    from bake.app.outputs import TargetResult
    from bake.errors import BakeError, BuildFailed, DefinitionError, StepError, UsageError, ValidationError
    from bake.graph.analysis import Analysis
    from bake.model import Group, Plan, Target
    from bake.progress.events import Sink

__all__ = ["BakeError", "BuildFailed", "DefinitionError", "Group", "Plan", "StepError", "Target", "UsageError",
           "ValidationError", "analyze", "build", "resolve"]
__version__ = "0.1.0"


def resolve(
    files: Sequence[str] = (),
    targets: Sequence[str] = (),
    *,
    overrides: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    cwd: str = ".",
    env: Mapping[str, str] | None = None,
) -> Plan:
    """Read bake files as ``docker buildx bake --print`` does and return the resolved plan."""
    from bake.app import resolve as run

    return run(_request(files, targets, overrides, variables, cwd, env)).plan


def analyze(
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
    from bake.app import resolve as run
    from bake.graph.analysis import analyze as analysis

    return analysis(graph_roots(run(_request(files, targets, overrides, variables, cwd, env))))


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
    from bake.app import resolve as read
    from bake.app.build import BuildOptions
    from bake.app.build import build as run
    from bake.errors import ungrouped
    from bake.progress.events import discard

    resolved = read(_request(files, targets, overrides, variables, cwd, env))
    opts = BuildOptions(root=root, keep_going=keep_going, parallelism=parallelism, allow=tuple(allow))
    with ungrouped():
        return run(resolved, opts, progress or discard)


_DEPRECATED: dict[str, tuple[str, Callable[..., Any]]] = {"load": ("resolve", resolve), "plan": ("analyze", analyze)}


_EXPORTED = {"BakeError": "bake.errors", "BuildFailed": "bake.errors", "DefinitionError": "bake.errors",
             "StepError": "bake.errors", "UsageError": "bake.errors", "ValidationError": "bake.errors",
             "Group": "bake.model", "Plan": "bake.model", "Target": "bake.model"}


def __getattr__(name: str) -> Any:
    """The exported types, imported on first use; the old names, each with a ``DeprecationWarning``
    naming the new one."""
    if name in _EXPORTED:
        import importlib

        value = getattr(importlib.import_module(_EXPORTED[name]), name)
        globals()[name] = value
        return value
    if name in _DEPRECATED:
        import warnings

        new, function = _DEPRECATED[name]
        warnings.warn(f"bake.{name}() is deprecated: use bake.{new}()", DeprecationWarning, stacklevel=2)
        return function
    raise AttributeError(f"module 'bake' has no attribute {name!r}")


def _request(files: Sequence[str], targets: Sequence[str], overrides: Sequence[str],
             variables: Mapping[str, str] | None, cwd: str, env: Mapping[str, str] | None) -> Request:
    from bake.app import Request

    return Request(tuple(files), tuple(targets), tuple(overrides), dict(variables or {}), cwd, env)
