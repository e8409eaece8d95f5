"""The expression tree the evaluator walks: small frozen nodes, each with its source range.

Both HCL native files (through python-hcl2's typed tree, see ``parse.py``) and HCL-JSON files
(``jsonbody.py``) are converted to these nodes, so everything after parsing sees one format.
Nodes are picklable, which lets ``parse.py`` cache a parsed file by content digest.
"""

from __future__ import annotations

from bake._record import record
from bake.errors import SourceRange


@record
class Literal:
    value: object
    rng: SourceRange


@record
class Var:
    name: str
    rng: SourceRange


@record
class GetAttr:
    obj: Expr
    name: str
    rng: SourceRange


@record
class Index:
    obj: Expr
    key: Expr
    rng: SourceRange


@record
class Splat:
    """``obj[*].a[0]`` (full) or ``obj.*.a`` (attribute-only); ``each`` applies to every element."""

    obj: Expr
    each: tuple[tuple[str, object], ...]  # ("attr", name) | ("index", Expr)
    rng: SourceRange


@record
class TupleExpr:
    items: tuple[Expr, ...]
    rng: SourceRange


@record
class ObjectExpr:
    items: tuple[tuple[Expr, Expr], ...]
    rng: SourceRange


@record
class Call:
    name: str
    args: tuple[Expr, ...]
    expand_last: bool
    rng: SourceRange


@record
class Unary:
    op: str
    operand: Expr
    rng: SourceRange


@record
class Binary:
    op: str
    left: Expr
    right: Expr
    rng: SourceRange


@record
class Conditional:
    cond: Expr
    if_true: Expr
    if_false: Expr
    rng: SourceRange


@record
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
@record
class Interp:
    expr: Expr
    rng: SourceRange


@record
class TemplateIf:
    cond: Expr
    then: tuple[TemplatePart, ...]
    otherwise: tuple[TemplatePart, ...]
    rng: SourceRange


@record
class TemplateFor:
    key_var: str | None
    value_var: str
    collection: Expr
    body: tuple[TemplatePart, ...]
    rng: SourceRange


TemplatePart = str | Interp | TemplateIf | TemplateFor


@record
class Template:
    """A string template; a template of exactly one interpolation yields the raw value (HCL's wrap)."""

    parts: tuple[TemplatePart, ...]
    rng: SourceRange


Expr = (
    Literal | Var | GetAttr | Index | Splat | TupleExpr | ObjectExpr | Call | Unary | Binary | Conditional | ForExpr
    | Template
)


@record
class Attribute:
    name: str
    expr: Expr
    rng: SourceRange


@record
class Block:
    type: str
    labels: tuple[str, ...]
    body: Body
    rng: SourceRange


@record
class Body:
    attributes: tuple[Attribute, ...]
    blocks: tuple[Block, ...]

    def attribute(self, name: str) -> Attribute | None:
        for a in self.attributes:
            if a.name == name:
                return a
        return None
