"""What buildx checks while building options, which --print also runs."""

from __future__ import annotations

import pytest

from bake.errors import DefinitionError
from tests.conftest import PrintFn


@pytest.mark.parametrize(("attr", "message"), [
    ('secret = ["id=x,src=missing.txt"]', "failed to stat missing.txt"),
    ('output = ["type=local"]', "dest is required for local exporter"),
    ('platforms = ["linux/amd64", "nope/amd64"]', "unknown operating system or architecture"),
    ('shm-size = "lots"', "invalid size: 'lots'"),
    ('ulimits = ["nofiles=1024"]', "invalid ulimit type: nofiles"),
    ('annotations = ["novalue"]', 'invalid annotation "novalue", expected key=value'),
    ('ssh = ["default"]', "SSH_AUTH_SOCK"),
])
def test_invalid_build_options(bake_print: PrintFn, attr: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        bake_print(f'target "default" {{\n  {attr}\n}}\n')


def test_valid_build_options(bake_print: PrintFn) -> None:
    t = bake_print('target "default" {\n  secret = ["id=TOKEN"]\n  ssh = ["default"]\n  shm-size = "128m"\n'
                   '  ulimits = ["nofile=1024:2048"]\n  platforms = ["linux/arm/v7", "arm64"]\n}\n',
                   env={"TOKEN": "x", "SSH_AUTH_SOCK": "/tmp/agent.sock"})["target"]["default"]
    assert t["secret"] == [{"id": "TOKEN"}]
    assert t["ssh"] == [{"id": "default"}]
