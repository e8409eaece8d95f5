"""Parsed files are cached by content like .pyc files: a hit skips python-hcl2 entirely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bake.hcl.engine import parse as parse_mod

TEXT = 'variable "V" { default = "1" }\ntarget "app" { tags = ["a:${V}"] }\n'


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("BAKE_ROOT", str(tmp_path))
    calls: list[str] = []
    real = parse_mod._parse_uncached

    def counting(text: str, file: str) -> object:
        calls.append(file)
        return real(text, file)

    monkeypatch.setattr(parse_mod, "_parse_uncached", counting)
    return calls


def test_second_parse_is_a_cache_hit(counted: list[str]) -> None:
    first = parse_mod.parse(TEXT, "docker-bake.hcl")
    second = parse_mod.parse(TEXT, "docker-bake.hcl")
    assert first == second
    assert counted == ["docker-bake.hcl"]
    parse_mod.parse(TEXT + "\n", "docker-bake.hcl")  # different content, new entry
    assert len(counted) == 2


def test_corrupt_cache_entries_are_ignored(counted: list[str], tmp_path: Path) -> None:
    parse_mod.parse(TEXT, "docker-bake.hcl")
    (entry,) = (p for p in (tmp_path / "parse").iterdir() if not p.name.startswith("lark-"))  # not the grammar
    entry.write_bytes(b"not a pickle")
    assert parse_mod.parse(TEXT, "docker-bake.hcl").blocks[1].labels == ("app",)
    assert len(counted) == 2
    assert parse_mod.parse(TEXT, "docker-bake.hcl").blocks[1].labels == ("app",)
    assert len(counted) == 2  # rewritten


def test_a_warm_print_never_imports_the_hcl_parser(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text(TEXT)
    env = {**os.environ, "BAKE_ROOT": str(tmp_path / "root")}
    probe = "import sys, bake.cli; bake.cli.main(['--print', 'app']); print('hcl2' in sys.modules, 'lark' in sys.modules)"
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
            for _ in range(2)]
    assert runs[0].stdout.splitlines()[-1] == "True True"
    assert runs[1].stdout.splitlines()[-1] == "False False"
