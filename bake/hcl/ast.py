"""The expression tree the evaluator walks: small frozen nodes, each with its source range.

Both HCL native files (through python-hcl2's typed tree, see ``parse.py``) and HCL-JSON files
(``jsonbody.py``) are converted to these nodes, so everything after parsing sees one format.
Nodes are picklable, which lets ``parse.py`` cache a parsed file by content digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from bake.errors import SourceRange


@dataclass(frozen=True, slots=True)
class Literal:
    value: object
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class GetAttr:
    obj: Expr
    name: str
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Index:
    obj: Expr
    key: Expr
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Splat:
    """``obj[*].a[0]`` (full) or ``obj.*.a`` (attribute-only); ``each`` applies to every element."""

    obj: Expr
    each: tuple[tuple[str, object], ...]  # ("attr", name) | ("index", Expr)
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class TupleExpr:
    items: tuple[Expr, ...]
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class ObjectExpr:
    items: tuple[tuple[Expr, Expr], ...]
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    expand_last: bool
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Expr
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Conditional:
    cond: Expr
    if_true: Expr
    if_false: Expr
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class ForExpr:
    key_var: str | None
    value_var: str
    collection: Expr
    key: Expr | None  # None for a tuple ``[for …]``
    value: Expr
    cond: Expr | None
    group: bool
    rng: SourceRange


# Template parts: a literal str, an Interp, a TemplateIf or a TemplateFor.
@dataclass(frozen=True, slots=True)
class Interp:
    expr: Expr
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class TemplateIf:
    cond: Expr
    then: tuple[TemplatePart, ...]
    otherwise: tuple[TemplatePart, ...]
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class TemplateFor:
    key_var: str | None
    value_var: str
    collection: Expr
    body: tuple[TemplatePart, ...]
    rng: SourceRange


TemplatePart = str | Interp | TemplateIf | TemplateFor


@dataclass(frozen=True, slots=True)
class Template:
    """A string template; a template of exactly one interpolation yields the raw value (HCL's wrap)."""

    parts: tuple[TemplatePart, ...]
    rng: SourceRange


Expr = (
    Literal | Var | GetAttr | Index | Splat | TupleExpr | ObjectExpr | Call | Unary | Binary | Conditional | ForExpr
    | Template
)


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    expr: Expr
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Block:
    type: str
    labels: tuple[str, ...]
    body: Body
    rng: SourceRange


@dataclass(frozen=True, slots=True)
class Body:
    attributes: tuple[Attribute, ...]
    blocks: tuple[Block, ...]

    def attribute(self, name: str) -> Attribute | None:
        for a in self.attributes:
            if a.name == name:
                return a
        return None
