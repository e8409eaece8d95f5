"""--set overrides and the CLI shorthands that become overrides."""

from __future__ import annotations

import pytest

from bake.errors import UsageError
from tests.conftest import PrintFn

TEXT = '''
target "app" {
  tags = ["app:1"]
  platforms = ["linux/amd64"]
  secret = ["id=tok,env=TOKEN"]
}
target "api" { inherits = ["app"] }
target "db" {}
'''


def test_set_with_patterns_and_keys(bake_print: PrintFn) -> None:
    out = bake_print(TEXT, ["app", "api", "db"], overrides=[
        "a*.args.V=2", "app.tags+=app:2", "*.no-cache=true", "db.platform=linux/arm64", "db.platform+=linux/s390x",
        "app.secret.tok=src=/dev/null",
    ])["target"]
    assert out["app"]["args"] == {"V": "2"} and out["api"]["args"] == {"V": "2"}
    assert out["app"]["tags"] == ["app:1", "app:2"]
    assert out["db"]["no-cache"] is True
    assert out["db"]["platforms"] == ["linux/arm64", "linux/s390x"]
    assert out["app"]["secret"] == [{"id": "tok", "src": "/dev/null"}]


def test_push_and_load(bake_print: PrintFn) -> None:
    out = bake_print(TEXT, ["app", "db"], overrides=["app.push=true", "db.load=true"])["target"]
    assert out["app"]["output"] == [{"push": "true", "type": "image"}]
    assert out["db"]["output"] == [{"type": "docker"}]


@pytest.mark.parametrize(("spec", "message"), [
    ("nope.tags=x", "could not find any target matching 'nope'"),
    ("app.tags", "expected target.name=value"),
    ("app.platforms=x", "unknown key: platforms"),
    ("app.no-cache=maybe", "invalid value maybe for boolean key no-cache"),
    ("app.args=x", "invalid key app.args, args requires name"),
    ("app.labels=x", "invalid format for labels, expecting labels.<name>=<value>"),
    ("app.secret.tok+=src=x", "secret does not support append"),
    ("app.secret.tok=id=other,src=x", 'secret override id "other" does not match declared secret "tok"'),
    ("app", "invalid override key app, expected target.name"),
    ("app.resources.cpu-shares=lots", "invalid value lots for int64 key resources.cpu-shares"),
    ("app.resources.gpu=1", "unknown resources key gpu"),
    ("app.secret.other=src=x", 'secret "other" must be declared'),
])
def test_override_errors(bake_print: PrintFn, spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        bake_print(TEXT, ["app"], overrides=[spec])
