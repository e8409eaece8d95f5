"""Task groups raise ``ExceptionGroup``s; ``bake.errors.ungrouped`` is the one place that turns a group
back into the error it stands for: a build step's error (or the kind the caller names) first, else
the first ``BakeError``, else a lone exception; a group of bugs stays a group."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bake
from bake.errors import BakeError, StepError, UsageError, ungrouped


class NodeFailed(BakeError):
    pass


def raised(group: BaseException, **kw: type[BaseException]) -> BaseException:
    with pytest.raises(BaseException) as info, ungrouped(**kw):
        raise group
    return info.value


def test_a_step_error_comes_before_other_bake_errors_and_bugs() -> None:
    step = StepError("[1/1] RUN x", "exit code: 1")
    got = raised(ExceptionGroup("g", [RuntimeError("bug"), UsageError("u"), ExceptionGroup("inner", [step])]))
    assert got is step


def test_the_caller_names_the_kind_that_comes_first() -> None:
    node = NodeFailed("the node's solve failed")
    assert raised(ExceptionGroup("g", [UsageError("u"), node]), prefer=NodeFailed) is node
    assert isinstance(raised(ExceptionGroup("g", [UsageError("u"), node])), UsageError)


def test_a_lone_bug_is_itself_and_several_bugs_stay_a_group() -> None:
    bug = KeyError("k")
    assert raised(ExceptionGroup("g", [bug])) is bug
    assert isinstance(raised(ExceptionGroup("g", [bug, ValueError("v")])), ExceptionGroup)


def test_no_other_module_unwraps_exception_groups() -> None:
    """The rule of STYLE.md's error boundary, kept: a module that catches a group by hand picks its
    own error its own way."""
    root = Path(bake.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.TryStar) or (
                    isinstance(node, ast.ExceptHandler) and node.type is not None
                    and "ExceptionGroup" in ast.unparse(node.type)):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == []
