"""A parse-cache entry of the wrong type or with damaged bytes is a miss: parsed again, rewritten."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bake.hcl.engine import ast, parsecache
from bake.hcl.engine import parse as parse_mod

TEXT = 'target "app" {\n  tags = ["a:1"]\n}\n'


@pytest.mark.parametrize("payload", [
    pickle.dumps({"not": "a body"}),  # unpickles fine, then every use would raise AttributeError
    b"cbake.hcl.engine.ast\nNoSuchNode\n.",  # a class that is gone (AttributeError while unpickling)
    b"\x80\x05\x95garbage",
    pickle.dumps(("Body", 1))[:-3],
])
def test_a_wrong_entry_is_parsed_again(payload: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BAKE_ROOT", str(tmp_path))
    path = parsecache.cache_path(TEXT, "docker-bake.hcl")
    assert path is not None
    good = parse_mod.parse(TEXT, "docker-bake.hcl")
    Path(path).write_bytes(payload)
    again = parse_mod.parse(TEXT, "docker-bake.hcl")
    assert isinstance(again, ast.Body) and again == good
    with open(path, "rb") as f:
        assert pickle.load(f) == good  # rewritten whole
