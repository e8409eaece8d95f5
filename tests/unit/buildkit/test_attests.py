"""What a solve asks BuildKit to attest (``bake.buildkit.attests``), pinned to what buildx v0.36.1
sent to BuildKit v0.32.2 (the daemon's build history; tests/fixtures/buildkit/attest/remote.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bake.buildkit import BuilderError
from bake.buildkit.attests import DEFAULT_PROVENANCE, per_platform, requested, supported
from bake.errors import UsageError
from bake.hcl.bakefile.buildflags import parse_attest
from bake.model import AttestEntry

RECORDED = json.loads((Path(__file__).parents[2] / "fixtures/buildkit/attest/remote.json").read_text())
CASES = RECORDED["cases"]
SEVERAL = sorted(n for n, c in CASES.items() if any(s.startswith("app.platform=") and "," in s for s in c["set"]))


def _attests(case: dict[str, object]) -> list[AttestEntry]:
    sets = case["set"]
    assert isinstance(sets, list)
    return [parse_attest(s.partition("=")[2]) for s in sets if s.startswith("app.attest=")]


@pytest.mark.parametrize("name", sorted(set(CASES) - set(SEVERAL)))
def test_a_one_platform_solve_asks_what_buildx_asked(name: str) -> None:
    case = CASES[name]
    got = requested("app", _attests(case), case["env"], "remote", RECORDED["buildkit"])
    assert got == case["buildx"]["attest_attrs"]


@pytest.mark.parametrize("name", SEVERAL)
def test_each_platform_of_several_asks_what_the_recorded_bake_run_asked(name: str) -> None:
    """buildx asks once for all platforms; bake's per-platform solves ask the same, except that an
    ``oci`` tarball's attestations may not be inline-only (each part is one platform)."""
    case = CASES[name]
    outputs = [s.partition("=")[2].split(",")[0].removeprefix("type=") for s in case["set"]
               if s.startswith("app.output=")] or ["registry"]
    asked = requested("app", _attests(case), case["env"], "remote", RECORDED["buildkit"])
    assert asked == case["buildx"]["attest_attrs"]
    assert per_platform(asked, outputs) == case["bake_per_platform"]["attest_attrs"]


def test_the_first_entry_of_a_type_counts_and_a_disabled_one_is_not_sent() -> None:
    entries = [AttestEntry("provenance", True), AttestEntry("provenance", False, (("mode", "max"),))]
    assert requested("t", entries, {}, "remote", "v0.32.2") == {}
    entries = [AttestEntry("sbom", False, (("generator", "r/scan"),)), AttestEntry("provenance", False, (("mode", "max"),))]
    assert requested("t", entries, {}, "remote", "v0.32.2") == {
        "attest:sbom": "type=sbom,generator=r/scan", "attest:provenance": "type=provenance,mode=max"}


def test_attributes_are_sorted_and_quoted_as_buildx_writes_csv() -> None:
    e = AttestEntry("provenance", False, (("version", "v1"), ("mode", "max"), ("builder-id", 'a,"b"')))
    assert requested("t", [e], {}, "remote", "v0.32.2") == {
        "attest:provenance": 'type=provenance,"builder-id=a,""b""",mode=max,version=v1'}


@pytest.mark.parametrize(("flag", "default"), [("1", False), ("true", False), ("0", True), ("False", True)])
def test_buildx_no_default_attestations(flag: str, default: bool) -> None:
    got = requested("t", [], {"BUILDX_NO_DEFAULT_ATTESTATIONS": flag}, "remote", "v0.32.2")
    assert got == ({"attest:provenance": DEFAULT_PROVENANCE} if default else {})


def test_an_unparsable_no_default_flag_is_buildx_error() -> None:
    with pytest.raises(UsageError, match=r"invalid BUILDX_NO_DEFAULT_ATTESTATIONS: strconv.ParseBool: parsing 'yes'"):
        requested("t", [], {"BUILDX_NO_DEFAULT_ATTESTATIONS": "yes"}, "remote", "v0.32.2")


def test_the_docker_driver_asks_for_none_and_refuses_an_explicit_one_in_buildx_words() -> None:
    docker = RECORDED["docker_driver"]
    assert requested("app", [], {}, "docker", "") == {}
    assert requested("app", [AttestEntry("provenance", True)], {}, "docker", "") == {}
    with pytest.raises(BuilderError) as err:
        requested("app", [parse_attest("type=provenance,mode=max")], {}, "docker", "", "default")
    assert docker["explicit"]["error"] in str(err.value)
    assert err.value.builder == "default"


def test_an_old_daemon_makes_no_attestations() -> None:
    assert not supported("remote", "v0.10.6") and not supported("remote", "")
    assert supported("remote", "v0.11.0") and supported("remote", "v0.32.2") and supported("remote", "v1.0.0-rc1")
    assert requested("t", [], {}, "remote", "v0.10.6") == {}
    with pytest.raises(BuilderError, match="Attestations are not supported by the current BuildKit daemon"):
        requested("t", [AttestEntry("provenance")], {}, "remote", "v0.10.6")


def test_inline_only_stays_where_a_local_or_tar_output_shares_the_solve() -> None:
    asked = {"attest:provenance": DEFAULT_PROVENANCE}
    assert per_platform(asked, ["oci", "tar"]) == asked
    assert per_platform(asked, ["registry"]) == asked
    assert per_platform(asked, ["oci"]) == {"attest:provenance": "mode=min"}
    assert per_platform({}, ["oci"]) == {}
