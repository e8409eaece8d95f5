"""Bad input never escapes as a Python exception: every mistake is a BakeError."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from bake.errors import BakeError
from bake.hcl.loader import File, Project

ROOT = Path(__file__).resolve().parents[3]
SEEDS = [p.read_text() for p in sorted(ROOT.glob("examples/*/docker-bake.hcl"))] + [(ROOT / "docker-bake.hcl").read_text()]
TOKENS = ['"', "{", "}", "[", "]", "(", ")", "${", "%{", "=", ",", "\n", "...", "~", "<<EOT\n", ".*", "[*]", "null", "-"]


def mutants(count: int) -> list[str]:
    rnd = random.Random(20261128)
    out = []
    for _ in range(count):
        text = rnd.choice(SEEDS)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(text))
            if rnd.random() < 0.5:
                text = text[:i] + text[i + rnd.randint(1, 8):]
            else:
                text = text[:i] + rnd.choice(TOKENS) + text[i:]
        out.append(text)
    return out


@pytest.mark.parametrize("text", mutants(300))
def test_mutated_files_fail_cleanly(text: str) -> None:
    with contextlib.suppress(BakeError):  # anything else fails the test
        Project([File("docker-bake.hcl", text)], env={}).plan([])
