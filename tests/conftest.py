from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bake.app import Request, open_project
from bake.hcl.bakefile.printer import plan_json


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BAKE_ROOT", str(tmp_path_factory.getbasetemp() / "bake-root"))
    yield


PrintFn = Callable[..., dict[str, Any]]
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
PRINT_SCHEMA = json.loads((SCHEMAS / "print.schema.json").read_text())


def check_print_schema(output: dict[str, Any]) -> None:
    """Every --print output of the test suite must satisfy schemas/print.schema.json."""
    jsonschema.validate(output, PRINT_SCHEMA)


@pytest.fixture
def bake_print(tmp_path: Path) -> PrintFn:
    """``bake --print`` of inline files: ``bake_print(hcl, targets=[…], env={…}, overrides=[…])``."""

    def run(
        text: str | None = None,
        targets: list[str] | None = None,
        env: dict[str, str] | None = None,
        overrides: list[str] | None = None,
        files: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_files = dict(files or {})
        if text is not None:
            all_files.setdefault("docker-bake.hcl", text)
        for name, content in all_files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(content)
        req = Request(tuple(all_files), tuple(targets or ()), tuple(overrides or ()), variables or {},
                      str(tmp_path), env or {})
        project = open_project(req)
        result: dict[str, Any] = json.loads(json.dumps(plan_json(project.plan(list(targets or ())))))
        check_print_schema(result)
        return result

    return run
