"""The HCL engine on its own, with a tiny host in place of bake: its hooks are builtins and root objects."""

from __future__ import annotations

import pytest

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine.eval import LazyObject
from bake.hcl.engine.jsonbody import parse_json
from bake.hcl.engine.namespace import Namespace
from bake.hcl.engine.parse import parse


class Counting(LazyObject):
    """A host root object: ``thing.NAME`` is ``NAME`` upper-cased; it counts its lookups."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def attr(self, name: str, rng: SourceRange) -> object:
        self.asked.append(name)
        if name == "missing":
            raise DefinitionError("Unsupported attribute", name, rng)
        return name.upper()


def namespace(text: str, env: dict[str, str] | None = None, root: LazyObject | None = None) -> Namespace:
    body = parse(text, "t.hcl")
    return Namespace([body], env or {}, {}, {"HOST": "h"}, {"thing": root or Counting()})


def test_variables_globals_and_functions_resolve_lazily_over_builtins_and_roots() -> None:
    ns = namespace('''
variable "V" { default = "${HOST}-${thing.abc}" }
G = twice(V)
function "twice" {
  params = [x]
  result = "${x}${x}"
}
other "ignored" { x = nope }
''')
    ns.check()
    assert ns.variable("V") == "h-ABC"
    assert ns.global_value("G") == "h-ABCh-ABC"


def test_a_root_object_is_asked_only_when_an_expression_reaches_it() -> None:
    root = Counting()
    ns = namespace('variable "A" { default = 1 }\nvariable "B" { default = thing.b }\n', root=root)
    assert ns.variable("A") == 1
    assert root.asked == []
    ns.check()
    ns.check()
    assert root.asked == ["b"]  # each variable is computed once


def test_host_names_are_reserved_and_overrides_are_typed() -> None:
    ns = namespace('variable "HOST" { default = "mine" }\nthing = 1\nvariable "N" { default = 1 }\n', env={"N": "41"})
    assert "HOST" not in ns.variables
    assert "thing" not in ns.globals
    assert ns.variable("N") == 41


def test_cycles_are_errors_at_their_block() -> None:
    ns = namespace('variable "A" { default = B }\nvariable "B" { default = A }\n')
    with pytest.raises(DefinitionError, match="variable cycle not allowed for A"):
        ns.check()
    ns = namespace('function "f" {\n  params = []\n  result = f()\n}\nX = f()\n')
    with pytest.raises(DefinitionError, match="function cycle not allowed for f"):
        ns.check()


def test_hcl_json_blocks_are_the_callers_block_types() -> None:
    text = '{"variable": {"V": {"default": "x"}}, "target": {"a": {}}}'
    assert [b.type for b in parse_json(text, "t.json").blocks] == ["variable"]
    assert [a.name for a in parse_json(text, "t.json").attributes] == ["target"]
    assert [b.type for b in parse_json(text, "t.json", ("variable", "target")).blocks] == ["variable", "target"]
