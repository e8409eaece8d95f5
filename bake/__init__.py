"""bake: a declarative, multi-target container build orchestrator compatible with ``docker buildx bake``.

The public API never prompts and never prints::

    import bake
    plan = bake.load(["docker-bake.hcl"], targets=["default"])
    plan.targets["app"].tags
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bake.errors import BakeError, DefinitionError, UsageError, ValidationError
from bake.model import Group, Plan, Target

__all__ = ["BakeError", "DefinitionError", "Group", "Plan", "Target", "UsageError", "ValidationError", "load"]
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
    from bake.app import Request, plan

    return plan(Request(tuple(files), tuple(targets), tuple(overrides), dict(variables or {}), cwd, env))
