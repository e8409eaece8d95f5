"""The `bake` command: output streams, exit codes and error rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import PRINT_SCHEMA, SCHEMAS

ROOT = Path(__file__).resolve().parents[2]


def bake(cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}  # BAKE_ROOT: tests/e2e/conftest.py's
    return subprocess.run([sys.executable, "-m", "bake", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, env=full_env, timeout=60)


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir()))
def test_examples_print_their_fixture(example: str) -> None:
    d = ROOT / "examples" / example
    r = bake(d, "--print")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (d / "expected-print.json").read_text()
    out = json.loads(r.stdout)
    jsonschema.validate(out, PRINT_SCHEMA)
    # --print output is itself a valid JSON bake file
    jsonschema.validate(out, json.loads((SCHEMAS / "bake-file.schema.json").read_text()))


def test_repository_bake_file_prints_and_lists() -> None:
    r = bake(ROOT, "--print")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["target"]) == {"go-hello", "node-production", "node-test", "release-api", "release-worker"}
    listing = bake(ROOT, "--list", "type=targets,format=json")
    assert {"name": "default", "description": "every example project (go-hello, node-production, node-test, release)",
            "group": True} in json.loads(listing.stdout)


def test_syntax_error_shows_location_and_snippet(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "app" {\n  tags = ["a",\n  args = {}\n}\n')
    r = bake(tmp_path, "--print")
    assert r.returncode == 1 and r.stdout == ""
    assert "ERROR: docker-bake.hcl:3," in r.stderr
    assert "Traceback" not in r.stderr


def test_evaluation_error_shows_file_line_column(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "app" {\n  tags = [nope]\n}\n')
    r = bake(tmp_path, "--print", "app")
    assert r.returncode == 1
    assert 'ERROR: docker-bake.hcl:2,11-15: Unknown variable; There is no variable named "nope".' in r.stderr
    assert ">>>   tags = [nope]" in r.stderr


def test_stdin_and_multiple_files(tmp_path: Path) -> None:
    (tmp_path / "base.hcl").write_text('variable "V" { default = "1" }\ntarget "app" { tags = ["a:${V}"] }\n')
    r = bake(tmp_path, "-f", "base.hcl", "-f", "-", "--print", "app", stdin='target "app" { args = { V = V } }\n')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["target"]["app"] == {"context": ".", "dockerfile": "Dockerfile", "args": {"V": "1"}, "tags": ["a:1"]}


def test_cli_shorthands_become_overrides(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    r = bake(tmp_path, "--print", "--push", "--no-cache", "--sbom=true", "--call=check", "--var", "X=1")
    t = json.loads(r.stdout)["target"]["default"]
    assert t["output"] == [{"push": "true", "type": "image"}]
    assert t["no-cache"] is True
    assert t["attest"] == [{"type": "sbom"}]
    assert t["call"] == "lint"


@pytest.mark.parametrize(("args", "message"), [
    (["--print", "--list", "targets"], "--print and --list are mutually exclusive"),
    (["--list", "nope"], 'invalid list type "nope"'),
    (["--var", "X"], 'invalid variable "X", expected key=value'),
    (["-f", "missing.hcl", "--print"], "open missing.hcl: no such file or directory"),
    (["--set", "x.tags=a", "--print"], "could not find any target matching 'x'"),
])
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    r = bake(tmp_path, *args)
    assert r.returncode == 1
    assert f"ERROR: {message}" in r.stderr


def test_no_definition_found(tmp_path: Path) -> None:
    r = bake(tmp_path, "--print")
    assert r.returncode == 1 and "couldn't find a bake definition" in r.stderr


def test_outputs_not_supported_are_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  output = ["type=s3,bucket=x"]\n}\n')
    r = bake(tmp_path, "--root", str(tmp_path / "root"))
    assert r.returncode == 1 and "output type=s3 is not supported yet" in r.stderr
    assert not (tmp_path / "root").exists()


def test_list_variables_table(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text(
        'variable "TAG" {\n  default = "dev"\n  description = "image tag"\n}\n'
        'variable "N" {\n  type = number\n}\ntarget "default" {}\n')
    r = bake(tmp_path, "--list", "variables")
    assert r.stdout.splitlines() == [
        "VARIABLE\tTYPE\tVALUE\tDESCRIPTION",
        "N\t\tnumber\t<null>\t",
        "TAG\t\t\tdev\timage tag",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ('target "a" { x = 1 y = 2 }\n', "docker-bake.hcl:1,20-25: Missing newline after argument"),
    ('target "a" {\n  x = "ab\ncd"\n}\n', "docker-bake.hcl:2,8-3,3: Invalid multi-line string"),
    ('target "a" {\n  x = 1\n  x = 2\n}\n', "docker-bake.hcl:3,3-8: Attribute redefined"),
    ('target "a" {\n  tags = upper(["x"])\n}\n', 'Invalid value for "str" parameter: string required'),
    ('target "a" {\n  tags = ["%{ if true }x"]\n}\n', "Unterminated template if directive"),
    ('function "f" {\n  params = [1]\n  result = 1\n}\ntarget "a" {}\n', "parameter names must be identifiers"),
    ('target "a" {\n  tags = [1 / 0]\n}\n', "can't divide by zero"),
])
def test_strict_hcl_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "docker-bake.hcl").write_text(text)
    r = bake(tmp_path, "--print", "a")
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr


def test_error_excerpt_layout(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('variable "A" {\n  default = "x"\n}\ntarget "app" {\n  tags = [nope]\n  args = {}\n}\n')
    r = bake(tmp_path, "--print", "app")
    assert r.stderr.splitlines()[:8] == [
        "docker-bake.hcl:5",
        "--------------------",
        "   3 |     }",
        '   4 |     target "app" {',
        "   5 | >>>   tags = [nope]",
        "   6 |       args = {}",
        "   7 |     }",
        "--------------------",
    ]


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir()))
def test_print_output_reads_back_as_a_bake_file(example: str) -> None:
    d = ROOT / "examples" / example
    r = bake(d, "-f", "expected-print.json", "--print")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (d / "expected-print.json").read_text()


def test_default_files_are_all_read_in_buildx_order(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: from-compose\n")
    (tmp_path / "docker-bake.hcl").write_text('target "app" {\n  args = { A = "hcl" }\n}\n')
    (tmp_path / "docker-bake.override.hcl").write_text('target "app" {\n  args = { A = "override" }\n}\n')
    t = json.loads(bake(tmp_path, "--print", "app").stdout)["target"]["app"]
    assert t["tags"] == ["from-compose"] and t["args"] == {"A": "override"}


def test_bake_file_list_from_environment(tmp_path: Path) -> None:
    (tmp_path / "one.hcl").write_text('target "a" {}\n')
    (tmp_path / "two.hcl").write_text('target "b" {}\n')
    r = bake(tmp_path, "--print", "a", "b", env={"BUILDX_BAKE_FILE": "one.hcl;two.hcl", "BUILDX_BAKE_PATH_SEPARATOR": ";"})
    assert sorted(json.loads(r.stdout)["target"]) == ["a", "b"]


@pytest.mark.parametrize(("text", "message"), [
    ("x = \n", "docker-bake.hcl:1,5-6: Missing expression; Expected the start of an expression, but found a newline."),
    ('target "a" {\n  tags = ["a" "b"]\n}\n', "docker-bake.hcl:2,15-16: Missing item separator"),
    ('target "a" {\n  x == 1\n}\n', "docker-bake.hcl:2,5-6: Argument or block definition required"),
    ('x = "abc\n', "Unterminated template string"),
    ('target "a" {\n', "Missing closing brace; Expected a closing brace, but found the end of the file."),
    # recorded from buildx v0.36.1: an argument beside the brace needs the block closed on that line
    ('target "n" { inherits = ["m"] \n  args = { A = "1" } }\n',
     "docker-bake.hcl:1,31-2,1: Invalid single-argument block definition; An argument definition on the same line"),
])
def test_syntax_errors_read_like_hcl(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "docker-bake.hcl").write_text(text)
    r = bake(tmp_path, "--print")
    assert r.returncode == 1
    assert message in r.stderr


def test_policy_flag(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  policy = ["filename=p.rego"]\n}\n')
    t = json.loads(bake(tmp_path, "--print", "--policy", "strict=true").stdout)["target"]["default"]
    assert [p["Strict"] for p in t["policy"]] == [None, True]
    t = json.loads(bake(tmp_path, "--print", "--policy", "disabled=true").stdout)["target"]["default"]
    assert t["policy"] == [{"Files": None, "Reset": False, "Disabled": True, "Strict": None, "LogLevel": None}]
    r = bake(tmp_path, "--print", "--policy", "filename=x.rego")
    assert "--policy does not accept filename" in r.stderr


def test_remote_definitions_are_refused_clearly(tmp_path: Path) -> None:
    r = bake(tmp_path, "https://github.com/docker/buildx.git", "--print")
    assert r.returncode == 1 and "remote bake definitions are not supported yet" in r.stderr


PLAN_SCHEMA = json.loads((SCHEMAS / "plan.schema.json").read_text())


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir()))
def test_examples_plan_is_a_checked_fixture(example: str) -> None:
    d = ROOT / "examples" / example
    r = bake(d, "--plan=json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, PLAN_SCHEMA)
    assert out == json.loads((d / "expected-plan.json").read_text())


def test_plan_text_shows_sharing_and_the_critical_path() -> None:
    r = bake(ROOT / "examples" / "node-monorepo", "--plan")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Plan: 3 build(s), 23 vertices requested, 16 unique (7 deduplicated)")
    assert "[base 2/2] WORKDIR /app [linux/amd64]" in r.stdout
    assert "used by production (linux/amd64), test (linux/amd64)" in r.stdout
    dot = bake(ROOT / "examples" / "node-monorepo", "--plan=dot").stdout
    assert dot.startswith("digraph plan {") and dot.rstrip().endswith("}")


def test_plan_reports_dockerfile_errors_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN --mont=type=cache make\n")
    r = bake(tmp_path, "--plan")
    assert r.returncode == 1
    assert "ERROR: Dockerfile:2:1: unknown flag: --mont (did you mean mount?)" in r.stderr
    assert ">>> RUN --mont=type=cache make" in r.stderr


def test_call_check_outline_targets(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  target = "release"\n}\n')
    (tmp_path / "Dockerfile").write_text("# check=error=true\nFROM alpine AS base\nFROM base AS release\nCMD echo hi\n")
    r = bake(tmp_path, "--check")
    assert r.returncode == 1 and "JSONArgsRecommended" in r.stdout  # error=true makes warnings fail
    assert bake(tmp_path, "--call=targets").stdout.splitlines()[2] == "release (default) "  # Go's tabwriter pads
    assert bake(tmp_path, "--call=outline").stdout.startswith("TARGET:      release")
    assert json.loads(bake(tmp_path, "--print", "--check").stdout)["target"]["default"]["call"] == "lint"


def test_a_target_s_call_attribute_runs_that_method(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch AS Base\nCOPY a /a\n")
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  call = "check"\n}\n')
    r = bake(tmp_path, "--root", str(tmp_path / "root"))
    assert r.returncode == 1 and "StageNameCasing" in r.stdout  # buildx exits 1 when a check finds warnings
    assert not (tmp_path / "root").exists()  # checked, not built
    (tmp_path / "Dockerfile").write_text("FROM scratch AS base\nCOPY a /a\n")
    assert bake(tmp_path, "--root", str(tmp_path / "root")).returncode == 0


UNREACHABLE = 'target "default" {}\n', "FROM 127.0.0.1:1/nope/base:1\nRUN true\n"  # nothing listens on port 1


def test_an_unreachable_base_image_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text(UNREACHABLE[0])
    (tmp_path / "Dockerfile").write_text(UNREACHABLE[1])
    r = bake(tmp_path, "--progress=quiet")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "ExceptionGroup" not in r.stderr
    assert r.stderr.startswith("ERROR: ") and "127.0.0.1:1" in r.stderr and len(r.stderr.splitlines()) <= 3


def test_the_api_raises_the_bake_error_itself(tmp_path: Path) -> None:
    import bake as api
    from bake.registry.client import RegistryError

    (tmp_path / "docker-bake.hcl").write_text(UNREACHABLE[0])
    (tmp_path / "Dockerfile").write_text(UNREACHABLE[1])
    with pytest.raises(RegistryError, match=r"127\.0\.0\.1:1"):
        api.build(cwd=str(tmp_path), root=str(tmp_path / "root"))


def test_a_state_root_that_cannot_be_made_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    r = bake(tmp_path, "--progress=quiet", "--root", "/proc/no/such/root")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cannot use /proc/no/such/root as bake's state root" in r.stderr


@pytest.mark.parametrize(("setting", "message"), [
    ("*.output=type=oci,dest=x.tar,compression-level=fast",
     "output type=oci: compression-level=fast (expected a whole number from 0 to 9 for gzip)"),
    ("*.output=type=oci,dest=x.tar,compression=lz4", "compression=lz4 is not supported"),
    ("*.output=type=docker,dest=x.tar,oci-mediatypes=yes", "oci-mediatypes=yes (expected true or false)"),
    ("*.cache-to=type=local,dest=c,mode=all", "cache-to type=local: mode=all (expected min or max)"),
])
def test_output_and_cache_attributes_are_checked_before_building(tmp_path: Path, setting: str, message: str) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    r = bake(tmp_path, "--progress=plain", "--set", setting)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert "#1" not in r.stderr  # refused before any step ran


def test_a_malformed_config_file_is_refused_before_building(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    (tmp_path / "bad.toml").write_text("this is = = not toml [\n")
    r = bake(tmp_path, "--progress=plain", env={"BAKE_CONFIG": str(tmp_path / "bad.toml")})
    assert r.returncode == 1 and "bad.toml" in r.stderr and "Traceback" not in r.stderr and "#1" not in r.stderr


def test_a_missing_dockerfile_is_named_by_its_clean_path(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  dockerfile = "Dockerfil"\n}\n')
    r = bake(tmp_path, "--progress=quiet")
    assert r.returncode == 1 and r.stderr.strip() == "ERROR: failed to read dockerfile: open Dockerfil: No such file or directory"


def test_a_target_after_a_bare_plan_flag_is_a_target(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "default" {}\ntarget "production" {}\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    r = bake(tmp_path, "--plan", "production")
    assert r.returncode == 0, r.stderr
    assert "production" in r.stdout and "invalid choice" not in r.stderr
    assert bake(tmp_path, "--plan=json", "production").stdout.lstrip().startswith("{")


def test_help_names_every_command(tmp_path: Path) -> None:
    r = bake(tmp_path, "--help")
    assert r.returncode == 0 and all(f"bake {c}" in r.stdout for c in ("du", "prune", "report"))
