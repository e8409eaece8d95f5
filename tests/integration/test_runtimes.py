"""The runtime is chosen by a real probe container, not by what is installed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bake.worker.errors import ExecError
from bake.worker.runtimes import probe, select_runtime

pytestmark = [pytest.mark.anyio, pytest.mark.root]


Install = Callable[[str], None]


@pytest.fixture
def path_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    """Put a fake ``crun`` script first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def install(script: str) -> None:
        crun = bin_dir / "crun"
        crun.write_text("#!/bin/sh\n" + script)
        crun.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return install


async def test_runc_passes_the_probe(tmp_path: Path) -> None:
    assert await probe("runc", str(tmp_path))


async def test_crun_that_cannot_start_containers_is_passed_over(path_with: Install, tmp_path: Path) -> None:
    path_with('echo "cgroups in hybrid mode not supported, drop all controllers from cgroupv2" >&2; exit 1\n')
    assert await select_runtime(str(tmp_path)) == "runc"


async def test_crun_that_works_is_preferred(path_with: Install, tmp_path: Path) -> None:
    marker = tmp_path / "crun-ran"
    path_with(f'echo "$@" >> {marker}\nexec runc "$@"\n')  # a working runtime under crun's name
    assert await select_runtime(str(tmp_path)) == "crun"
    assert " run --bundle " in marker.read_text()


async def test_a_requested_runtime_must_be_installed(tmp_path: Path) -> None:
    assert await select_runtime(str(tmp_path), "runc") == "runc"
    with pytest.raises(ExecError, match="'nosuchruntime' is not installed"):
        await select_runtime(str(tmp_path), "nosuchruntime")


async def test_the_real_crun_is_chosen_exactly_when_its_probe_passes(tmp_path: Path) -> None:
    assert shutil.which("crun"), "crun is installed by scripts/setup.sh"
    works = await probe("crun", str(tmp_path))
    assert await select_runtime(str(tmp_path)) == ("crun" if works else "runc")
