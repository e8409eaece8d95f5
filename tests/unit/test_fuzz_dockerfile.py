"""Property: the Dockerfile frontend — converting to a graph and answering ``--call=check``,
``targets`` and ``outline`` — either works or raises a ``BakeError``, whatever the text.

Inputs are structured mutations of the Dockerfiles in tests/dockerfiles (spans deleted, Dockerfile
syntax inserted, lines repeated) and random text over Dockerfile tokens. Derandomized: every run
tries the same cases.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bake.dockerfile.calls import call_check, call_outline, call_targets
from bake.dockerfile.config import StaticConfigs
from bake.dockerfile.convert import BuildInputs, convert
from bake.errors import BakeError
from bake.graph.analysis import Root, analyze

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [p.read_text() for p in sorted((ROOT / "tests" / "dockerfiles").glob("*.Dockerfile"))]
TOKENS = ["\n", "FROM ", "FROM scratch AS empty\n", " AS ", "RUN ", "COPY ", "ADD ", "--from=", "--from=empty ",
          "--mount=", "type=cache,", "target=", "ARG ", "ENV ", "${", "}", "$", ":-", ":+", "\\\n", "<<EOF\n",
          "EOF\n", "<<-", '["', '"]', "[", "]", "# syntax=", "# escape=`\n", "# check=error=true\n", "ONBUILD ",
          "HEALTHCHECK ", "CMD ", "--interval=", "=", "/", "..", "*", "\t", "\r\n", "\xff", "0", "-1", "--chmod=",
          "--chown=", "--platform=", "$BUILDPLATFORM", "WORKDIR ", "USER ", "SHELL ", "EXPOSE ", "VOLUME ",
          "STOPSIGNAL ", "LABEL ", "--network=", "--security=", "--link ", "--parents ", "--exclude="]
SETTINGS = settings(max_examples=400, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def mutated() -> st.SearchStrategy[str]:
    edit = st.tuples(st.sampled_from(["delete", "insert", "repeat"]), st.floats(0, 1), st.integers(1, 16),
                     st.sampled_from(TOKENS))

    def apply(seed: str, edits: list[tuple[str, float, int, str]]) -> str:
        text = seed
        for kind, where, size, token in edits:
            i = int(where * len(text))
            if kind == "delete":
                text = text[:i] + text[i + size:]
            elif kind == "insert":
                text = text[:i] + token + text[i:]
            else:
                text = text[:i] + text[i:i + size] * 3 + text[i:]
        return text

    return st.builds(apply, st.sampled_from(SEEDS), st.lists(edit, min_size=1, max_size=5))


def noise() -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=5)), max_size=50).map("".join)


def frontend(text: str) -> None:
    """Everything a user reaches with one Dockerfile, offline."""
    for run in (
        lambda: call_check(text, "Dockerfile"),
        lambda: call_targets(text, "Dockerfile", None),
        lambda: call_outline(text, "Dockerfile", None, {"A": "1"}),
        lambda: analyze([Root("t", "linux/amd64", convert(
            text, BuildInputs("linux/amd64", "linux/amd64", build_args={"A": "1"}), StaticConfigs({})).state.vertex)]),
    ):
        with contextlib.suppress(BakeError):
            run()


@SETTINGS
@given(mutated())
def test_mutated_dockerfiles_fail_only_with_bake_errors(text: str) -> None:
    frontend(text)


@SETTINGS
@given(noise())
def test_random_dockerfiles_fail_only_with_bake_errors(text: str) -> None:
    frontend(text)
