"""The typer command line: help lists every command, shell completion, buildx's `=`-only rule for
value-optional flags, commands versus targets named like them, and the parser's usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import bake

TWO = 'target "default" {}\ntarget "production" {\n  args = { P = "1" }\n}\ntarget "prune" {}\ntarget "_hidden" {}\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "docker-bake.hcl").write_text(TWO)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    return tmp_path


def test_help_lists_every_command_and_every_flag(project: Path) -> None:
    r = bake(project, "--help")
    assert r.returncode == 0 and r.stderr == ""
    commands = r.stdout.partition("\nCommands:\n")[2]
    assert [line.split()[0] for line in commands.splitlines()[:3]] == ["du", "prune", "report"]
    for flag in ("--file", "--set", "--var", "--print", "--list", "--plan", "--load", "--push", "--no-cache", "--pull",
                 "--sbom", "--provenance", "--policy", "--call", "--check", "--progress", "--metadata-file",
                 "--report", "--allow", "--publish", "--keep-going", "--max-parallelism", "--root", "--runtime",
                 "--install-completion", "--show-completion"):
        assert flag in r.stdout, flag
    assert "bake -f docker-bake.hcl prune" in r.stdout  # how to build a target named like a command
    assert bake(project, "-h").stdout == r.stdout


@pytest.mark.parametrize(("command", "flags"), [("du", ["--root"]), ("prune", ["--all", "--filter", "--keep-storage"]),
                                                ("report", ["--output"])])
def test_each_command_has_its_help(project: Path, command: str, flags: list[str]) -> None:
    r = bake(project, command, "--help")
    assert r.returncode == 0 and r.stdout.startswith(f"Usage: bake {command} ")
    assert all(f in r.stdout for f in flags)


def test_show_completion_prints_a_script(project: Path) -> None:
    r = bake(project, "--show-completion", "bash")
    assert r.returncode == 0 and "_BAKE_COMPLETE" in r.stdout and "complete" in r.stdout


def complete(cwd: Path, words: str) -> list[str]:
    env = {**os.environ, "_BAKE_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    r = subprocess.run([sys.executable, "-m", "bake"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_completion_of_flags_targets_and_commands(project: Path) -> None:
    assert "--no-cache" in complete(project, "bake --no")
    assert "production" in complete(project, "bake pro")
    assert complete(project, "bake ") == ["default", "production", "prune"]  # targets, no _private one
    assert "--keep-storage" in complete(project, "bake prune --k")


def test_a_value_optional_flag_takes_its_value_only_after_equals(project: Path) -> None:
    bare = bake(project, "--plan", "production")
    assert bare.returncode == 0, bare.stderr
    assert "production" in bare.stdout and "default" not in bare.stdout.partition("Targets:")[2]
    last = bake(project, "production", "--plan")  # flags after targets, as buildx reads them
    assert last.returncode == 0 and last.stdout == bare.stdout
    assert json.loads(bake(project, "--plan=json", "production").stdout)
    assert bake(project, "--plan=dot").stdout.startswith("digraph")
    bad = bake(project, "--plan=yaml")
    assert bad.returncode == 2 and "yaml" in bad.stderr and "See 'bake --help'." in bad.stderr
    after_dashes = bake(project, "--print", "--", "--plan")  # after "--" every word is a target
    assert after_dashes.returncode == 1 and "--plan" in after_dashes.stderr


def test_value_flags_take_the_next_word_and_repeat(project: Path) -> None:
    r = bake(project, "--print", "--set", "*.args.A=1", "--set=*.args.B=2", "-f", "docker-bake.hcl", "production")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["target"]["production"]["args"] == {"A": "1", "B": "2", "P": "1"}


def test_a_target_named_like_a_command_is_built_after_a_flag(project: Path) -> None:
    r = bake(project, "-f", "docker-bake.hcl", "--print", "prune")
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)["target"]) == ["prune"]


@pytest.mark.parametrize("args", [["--nope"], ["--max-parallelism", "x"], ["--runtime=docker"], ["report", "x.jsonl"],
                                  ["--publish", "never"], ["--progress"]])
def test_the_parser_s_usage_errors_exit_2_without_a_traceback(project: Path, args: list[str]) -> None:
    r = bake(project, *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("ERROR: ") and "--help'." in r.stderr and "Traceback" not in r.stderr


def test_the_python_api_of_the_command_line(project: Path) -> None:
    probe = "import bake.cli; print(bake.cli.main(['--print', 'production']), bake.cli.entry.__name__)"
    r = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "0 entry"
