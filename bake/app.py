"""Composition root: turns command-line intent into calls on the layers below."""

from __future__ import annotations

import os
from collections.abc import Mapping

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


def open_project(req: Request) -> Project:
    env = dict(os.environ if req.env is None else req.env)
    files: list[File] = find_files(list(req.files) or None, req.cwd, env, req.stdin)
    try:
        return Project(files, env, req.variables or {}, list(req.overrides), req.cwd)
    except DefinitionError as err:
        raise attach_snippet(err, files) from None


def plan(req: Request) -> Plan:
    project = open_project(req)
    try:
        return project.plan(list(req.targets))
    except DefinitionError as err:
        raise attach_snippet(err, project.files) from None
