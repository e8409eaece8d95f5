"""The public bake-file corpus agrees with buildx v0.36.1's recorded ``--print``/``--list`` answers.

The answers are in tests/fixtures/buildkit/bake/corpus.json.gz; the files themselves stay outside the
repository (``BAKE_CORPUS``, default /work/bakecorpus/cases; see scripts/differential_bake.py).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
CASES = Path(os.environ.get("BAKE_CORPUS", "/work/bakecorpus/cases"))


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("differential_bake", ROOT / "scripts/differential_bake.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not CASES.is_dir(), reason=f"the bake-file corpus is not on this machine ({CASES})")
def test_every_recorded_invocation_agrees_with_buildx() -> None:
    runner = _runner()
    doc = runner.load_fixture(runner.FIXTURE)
    differences = []
    for entry in doc["files"]:
        cwd = CASES / entry["id"]
        for run in entry["runs"]:
            reason = runner.compare_run(cwd, entry["file"], run, False, entry.get("clock", False))
            if reason is not None:
                differences.append(f"{entry['id']} {run['env']} {run['args']}: {reason}")
    assert differences == []


def test_the_recorded_corpus_is_large_and_varied() -> None:
    doc = _runner().load_fixture(_runner().FIXTURE)
    files = doc["files"]
    assert len(files) >= 100
    assert len({f["repo"] for f in files}) >= 60
    assert sum(len(f["runs"]) for f in files) >= 900
