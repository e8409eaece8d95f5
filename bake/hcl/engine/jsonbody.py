"""HCL-JSON bake files (``docker-bake.json``) → ``ast.Body``.

Blocks may be objects (``"target": {"app": {…}}``) or lists of them; string values are
templates (``"${VAR}"``); other JSON values are literals.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine import ast
from bake.hcl.engine.template import assemble, scan
from bake.hcl.engine.values import normalize_number

BLOCK_TYPES = ("variable", "function")
"""The engine's own block types; a host adds its own (bake: ``target``, ``group``)."""


def parse_json(text: str, file: str, block_types: Collection[str] = BLOCK_TYPES) -> ast.Body:
    """An HCL-JSON body: top-level keys named in ``block_types`` are blocks, the rest attributes
    (JSON has no block syntax, so the schema decides, as in HCL)."""
    from bake.hcl.engine.grammar import too_deep
    from bake.hcl.engine.parse import too_deep_error

    deep = too_deep(text)
    if deep is not None:
        raise too_deep_error(file, *deep)
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as err:
        raise DefinitionError("Invalid JSON", err.msg, SourceRange(file, err.lineno, err.colno, err.lineno, err.colno + 1)) from None
    if not isinstance(doc, dict):
        raise DefinitionError("Invalid JSON", "the root of a bake file must be an object", _rng(file))
    return _JsonConverter(file, block_types).body(doc, block_type=None)


def _rng(file: str) -> SourceRange:
    return SourceRange(file, 1, 1, 1, 1)


class _JsonConverter:
    def __init__(self, file: str, block_types: Collection[str]) -> None:
        self.file = file
        self.block_types = block_types
        self.rng = _rng(file)

    def body(self, obj: dict[str, Any], block_type: str | None) -> ast.Body:
        attrs: list[ast.Attribute] = []
        blocks: list[ast.Block] = []
        for key, value in obj.items():
            if block_type is None and key in self.block_types:
                blocks.extend(self.blocks(key, value))
            elif block_type == "variable" and key == "validation":
                for v in value if isinstance(value, list) else [value]:
                    blocks.append(ast.Block("validation", (), self.body(v, "validation"), self.rng))
            elif block_type == "function" and key in ("params", "variadic_params"):
                names = value if isinstance(value, list) else [value]
                attrs.append(ast.Attribute(key, ast.TupleExpr(tuple(ast.Var(str(n), self.rng) for n in names), self.rng), self.rng))
            elif block_type == "variable" and key == "type" and isinstance(value, str):
                from bake.hcl.engine.tree import parse_expression

                attrs.append(ast.Attribute(key, parse_expression(value, self.file, 1, 1), self.rng))
            else:
                attrs.append(ast.Attribute(key, self.expr(value), self.rng))
        return ast.Body(tuple(attrs), tuple(blocks))

    def blocks(self, block_type: str, value: Any) -> list[ast.Block]:
        out: list[ast.Block] = []
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                raise DefinitionError("Invalid JSON block", f'"{block_type}" must be an object of labelled blocks', self.rng)
            for label, content in item.items():
                for c in content if isinstance(content, list) else [content]:
                    if not isinstance(c, dict):
                        raise DefinitionError("Invalid JSON block", f'{block_type} "{label}" must be an object', self.rng)
                    out.append(ast.Block(block_type, (label,), self.body(c, block_type), self.rng))
        return out

    def expr(self, v: Any) -> ast.Expr:
        if isinstance(v, str):
            if "${" not in v and "%{" not in v:
                return ast.Literal(v, self.rng)
            from bake.hcl.engine.tree import parse_expression

            pieces = scan(v, self.file, 1, 1, lambda t, ln, cl: parse_expression(t, self.file, ln, cl))
            return assemble(pieces, self.rng)
        if isinstance(v, Decimal):
            return ast.Literal(normalize_number(v), self.rng)
        if isinstance(v, list):
            return ast.TupleExpr(tuple(self.expr(x) for x in v), self.rng)
        if isinstance(v, dict):
            return ast.ObjectExpr(tuple((ast.Literal(k, self.rng), self.expr(x)) for k, x in v.items()), self.rng)
        return ast.Literal(v, self.rng)
