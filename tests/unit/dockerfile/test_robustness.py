"""Mutated Dockerfiles fail only with BakeError (file and line), never with a Python exception."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from bake.dockerfile.config import EmptyConfigs
from bake.dockerfile.convert import BuildInputs, convert
from bake.errors import BakeError

CORPUS = [p.read_text() for p in sorted((Path(__file__).resolve().parents[2] / "dockerfiles").glob("*.Dockerfile"))]
TOKENS = ["\\\n", "<<EOF\n", "--mount=", "--from=", "${", "}", "[", "]", '"', "'", "\n", " AS ", "=", ",", "`", "#"]


def mutants(count: int) -> list[str]:
    rnd = random.Random(1128)
    out = []
    for _ in range(count):
        text = rnd.choice(CORPUS)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(text))
            text = text[:i] + text[i + rnd.randint(1, 6):] if rnd.random() < 0.5 else text[:i] + rnd.choice(TOKENS) + text[i:]
        out.append(text)
    return out


@pytest.mark.parametrize("text", mutants(300))
def test_mutated_dockerfiles_fail_cleanly(text: str) -> None:
    with contextlib.suppress(BakeError):  # anything else fails the test
        convert(text, BuildInputs(platform="linux/arm64", build_platform="linux/amd64"), EmptyConfigs())
