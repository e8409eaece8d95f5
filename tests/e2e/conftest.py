from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _e2e_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bake-e2e-root")


@pytest.fixture(autouse=True)
def _bake_root(_e2e_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run by these tests share a root of their own (nothing recorded in the user's);
    ``test_cli.bake()`` passes the environment on to them."""
    monkeypatch.setenv("BAKE_ROOT", str(_e2e_root))
