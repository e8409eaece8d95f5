from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bake.app import Request, open_project
from bake.hcl.bakefile.printer import plan_json

# Every `bake` the tests start runs in its own process: a build server (bake.cli.server) outlives a
# test and would answer the next one. tests/e2e/test_server.py tests the server, in its own directory.
os.environ["BAKE_SERVER"] = "off"


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BAKE_ROOT", str(tmp_path_factory.getbasetemp() / "bake-root"))
    yield


NEEDS_ROOT = ("needs root (runc, overlayfs, mounts, namespaces): CI runs it as root, and scripts/test-rootless.sh "
              "as root in a user namespace; as an ordinary user, run `.venv/bin/python -m bake.app.rootless -- "
              ".venv/bin/python -m pytest …` to include it")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``root`` are skipped, saying why, when pytest is not uid 0 (root in a user
    namespace counts: that is how the rootless pass runs them)."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason=NEEDS_ROOT)
    for item in items:
        if item.get_closest_marker("root") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NEEDS_ROOT in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} test(s) marked 'root' were skipped: {NEEDS_ROOT}")


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
