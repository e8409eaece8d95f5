"""``--call=targets`` and ``--call=check`` against answers recorded from BuildKit v0.32.2 + buildx v0.36.1.

Two fixtures, both written by ``scripts/differential_record.py`` from a real run:
``handwritten.json`` answers for the small Dockerfiles in ``tests/dockerfiles/calls/`` (one rule or
corner each: descriptions, unnamed stages, every lint rule, errors); ``corpus.json`` answers for 173
public Dockerfiles whose text stays outside the repository (``BAKE_CORPUS``, default
``/work/corpus/files``): that test runs where the corpus is present and is skipped elsewhere.
Every base image had a config with only ``PATH`` in ``Env`` when the answers were recorded; bake's
linter is given the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
FILES = ROOT / "tests/dockerfiles/calls"
FIXTURES = ROOT / "tests/fixtures/buildkit/calls"
CORPUS = Path(os.environ.get("BAKE_CORPUS", "/work/corpus/files"))


def _differential() -> ModuleType:
    spec = importlib.util.spec_from_file_location("differential", ROOT / "scripts/differential.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DIFF = _differential()


def _entries(name: str) -> list[dict[str, Any]]:
    with open(FIXTURES / name, encoding="utf-8") as f:
        entries: list[dict[str, Any]] = json.load(f)["files"]
    return entries


HANDWRITTEN = _entries("handwritten.json")


def test_every_handwritten_file_has_a_recorded_answer() -> None:
    assert sorted(e["id"] for e in HANDWRITTEN) == sorted(p.name for p in FILES.iterdir())
    for entry in HANDWRITTEN:  # an edited file needs its answer recorded again
        assert hashlib.sha256((FILES / entry["id"]).read_bytes()).hexdigest() == entry["sha256"], entry["id"]


@pytest.mark.parametrize("entry", HANDWRITTEN, ids=lambda e: e["id"])
def test_targets_as_buildkit_answers(entry: dict[str, Any]) -> None:
    text = (FILES / entry["id"]).read_text(encoding="utf-8")
    assert DIFF.compare_targets(text, entry["targets"]) is None


@pytest.mark.parametrize("entry", HANDWRITTEN, ids=lambda e: e["id"])
def test_check_as_buildkit_answers(entry: dict[str, Any]) -> None:
    text = (FILES / entry["id"]).read_text(encoding="utf-8")
    assert DIFF.compare_check(text, entry["check"]) is None


def test_the_recorded_corpus_is_broad() -> None:
    corpus = _entries("corpus.json")
    assert len(corpus) >= 100
    assert len({e["repo"] for e in corpus}) >= 20


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the public Dockerfile corpus is not on this machine")
def test_the_corpus_agrees_with_buildkit() -> None:
    results = DIFF.run(CORPUS, _entries("corpus.json"))
    for method, goal in (("targets", 0.98), ("check", 0.95)):
        rows = results[method]
        agree = sum(1 for _, why in rows if why is None)
        assert agree / len(rows) >= goal, [r for r in rows if r[1]]
