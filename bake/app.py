"""Composition root: turns command-line intent into calls on the layers below."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from bake._record import record
from bake.errors import DefinitionError
from bake.hcl.loader import File, Project, attach_snippet, find_files
from bake.model import Plan


@record
class Request:
    """What the user asked for, already parsed from flags."""

    files: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    variables: Mapping[str, str] | None = None
    cwd: str = "."
    env: Mapping[str, str] | None = None
    stdin: str | None = None


@contextmanager
def located_errors(files: list[File]) -> Iterator[None]:
    """Definition errors get their source excerpt; runaway recursion becomes a definition error too."""
    try:
        yield
    except DefinitionError as err:
        raise attach_snippet(err, files) from None
    except RecursionError:
        raise DefinitionError(
            "Definition too deeply nested", "expressions, variables or functions refer to each other too deeply"
        ) from None


def open_project(req: Request) -> Project:
    env = dict(os.environ if req.env is None else req.env)
    files: list[File] = find_files(list(req.files) or None, req.cwd, env, req.stdin)
    with located_errors(files):
        return Project(files, env, req.variables or {}, list(req.overrides), req.cwd)


def plan(req: Request) -> Plan:
    project = open_project(req)
    with located_errors(project.files):
        return project.plan(list(req.targets))
