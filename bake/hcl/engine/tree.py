"""python-hcl2's typed rule tree → ``ast`` nodes with their source ranges (``Converter``), and one
expression parsed on its own (``parse_expression``: heredoc interpolations, HCL-JSON strings).

The tree's rules are told apart by class name, so python-hcl2's classes are never imported here.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import Any

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine import ast, grammar
from bake.hcl.engine.parsecache import cache_dir
from bake.hcl.engine.template import Piece, assemble, scan
from bake.hcl.engine.values import CTX, normalize_number


def parse_expression(text: str, file: str, line: int, col: int) -> ast.Expr:
    """Parse one expression whose source starts at ``line``:``col`` of ``file``."""
    from lark.exceptions import UnexpectedInput

    try:
        tree = grammar.parse_tree(f"x = {text}\n", cache_dir())
    except UnexpectedInput as e:
        ln = (getattr(e, "line", 1) or 1) + line - 1
        cl = (getattr(e, "column", 1) or 1) + (col - 5 if getattr(e, "line", 1) == 1 else 0)
        raise DefinitionError("Invalid expression", f"cannot parse {text.strip()!r}", SourceRange(file, ln, cl, ln, cl + 1)) from None
    attrs = [c for c in tree.body.children if type(c).__name__ == "AttributeRule"]
    if len(attrs) != 1:
        raise DefinitionError("Invalid expression", f"cannot parse {text.strip()!r}", SourceRange(file, line, col, line, col + 1))
    return Converter(file, line - 1, col - 5).expr(attrs[0].children[2])


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s

    def repl(m: re.Match[str]) -> str:
        g = m.group(1)
        if g[0] in "uU" and len(g) > 1:
            return chr(int(g[1:], 16))
        return _ESCAPES.get(g, "\\" + g)

    return _ESCAPE_RE.sub(repl, s)


class Converter:
    """Walks python-hcl2's typed tree; positions shift by (line_off, col_off on the first line)."""

    def __init__(self, file: str, line_off: int, col_off: int, lines: list[str] | None = None) -> None:
        self.file = file
        self.lines = lines
        self.line_off = line_off
        self.col_off = col_off

    def rng(self, node: Any) -> SourceRange:
        m = node._meta
        if m is None or getattr(m, "empty", True):
            return SourceRange(self.file, 1 + self.line_off, 1, 1 + self.line_off, 1)
        c1 = m.column + (self.col_off if m.line == 1 else 0)
        c2 = m.end_column + (self.col_off if m.end_line == 1 else 0)
        return SourceRange(self.file, m.line + self.line_off, c1, m.end_line + self.line_off, c2)

    # --- bodies -----------------------------------------------------------------------------

    def body(self, node: Any) -> ast.Body:
        attrs: list[ast.Attribute] = []
        blocks: list[ast.Block] = []
        seen: dict[str, ast.Attribute] = {}
        first = True
        for child in node.children:
            kind = type(child).__name__
            if kind in ("AttributeRule", "BlockRule"):
                if not first:
                    self.check_starts_line(child)
                first = False
            if kind == "AttributeRule":
                name = self.name_of(child.children[0])
                a = ast.Attribute(name, self.expr(child.children[2]), self.rng(child))
                if name in seen:
                    prev = seen[name].rng
                    raise DefinitionError(
                        "Attribute redefined",
                        f'The argument "{name}" was already set at {prev.file}:{prev.line},{prev.col}. '
                        "Each argument may be set only once.",
                        a.rng,
                    )
                seen[name] = a
                attrs.append(a)
            elif kind == "BlockRule":
                parts = [c for c in child.children if _is_rule(c) and type(c).__name__ != "BodyRule"]
                names = [self.label_of(p) for p in parts]
                inner = next(c for c in child.children if type(c).__name__ == "BodyRule")
                self.check_single_line(child, inner)
                blocks.append(ast.Block(names[0], tuple(names[1:]), self.body(inner), self.rng(child)))
        return ast.Body(tuple(attrs), tuple(blocks))

    def check_single_line(self, block: Any, inner: Any) -> None:
        """``name { a = 1`` with the ``}`` on a later line: HCL allows an argument beside the brace
        only in a block closed on that same line."""
        items = [c for c in inner.children if type(c).__name__ in ("AttributeRule", "BlockRule")]
        if not items or self.lines is None:
            return
        outer, first = self.rng(block), self.rng(items[0])
        if type(items[0]).__name__ == "AttributeRule" and first.line == outer.line and outer.end_line != outer.line:
            col = len(self.lines[first.line - 1]) + 1 if first.line <= len(self.lines) else first.end_col
            raise DefinitionError(
                "Invalid single-argument block definition",
                "An argument definition on the same line as its containing block creates a single-line block "
                "definition, which must also be closed on the same line. Place the block's closing brace "
                "immediately after the argument definition.",
                SourceRange(first.file, first.line, col, first.line + 1, 1))

    def check_starts_line(self, node: Any) -> None:
        """python-hcl2 accepts ``a = 1 b = 2`` on one line; HCL requires a newline between items."""
        rng = self.rng(node)
        if self.lines is None or rng.line > len(self.lines):
            return
        if self.lines[rng.line - 1][: rng.col - 1].strip():
            raise DefinitionError(
                "Missing newline after argument", "An argument or block definition must end with a newline.", rng)

    def name_of(self, node: Any) -> str:
        return str(node.children[0].value)

    def label_of(self, node: Any) -> str:
        if type(node).__name__ == "StringRule":
            t = self.string(node)
            if all(isinstance(p, str) for p in t.parts):
                return "".join(p for p in t.parts if isinstance(p, str))
            raise DefinitionError("Invalid block label", "block labels cannot contain interpolations", self.rng(node))
        return self.name_of(node)

    # --- expressions ------------------------------------------------------------------------

    def expr(self, node: Any) -> ast.Expr:
        kind = type(node).__name__
        fn = getattr(self, "x_" + kind, None)
        if fn is None:
            raise DefinitionError("Unsupported expression", f"{kind} is not supported yet", self.rng(node))
        result: ast.Expr = fn(node)
        return result

    def x_ExprTermRule(self, n: Any) -> ast.Expr:
        inner = [c for c in n.children if _is_rule(c) and type(c).__name__ != "NewLineOrCommentRule"]
        return self.expr(inner[0])

    def x_IntLitRule(self, n: Any) -> ast.Expr:
        return self.x_FloatLitRule(n)

    def x_FloatLitRule(self, n: Any) -> ast.Expr:
        try:
            d = CTX.create_decimal(str(n.children[0].value))
        except decimal.Overflow:
            raise DefinitionError("Invalid number", f"Numbers range up to {CTX.Emax} decimal digits.", self.rng(n)) from None
        return ast.Literal(normalize_number(d), self.rng(n))

    def x_LiteralValueRule(self, n: Any) -> ast.Expr:
        return ast.Literal({"true": True, "false": False, "null": None}[str(n.children[0].value)], self.rng(n))

    def x_IdentifierRule(self, n: Any) -> ast.Expr:
        return ast.Var(self.name_of(n), self.rng(n))

    def x_KeywordRule(self, n: Any) -> ast.Expr:
        return ast.Var(self.name_of(n), self.rng(n))

    def x_TupleRule(self, n: Any) -> ast.Expr:
        return ast.TupleExpr(tuple(self.expr(e) for e in n.elements), self.rng(n))

    def x_ObjectRule(self, n: Any) -> ast.Expr:
        items = []
        for elem in (c for c in n.children if type(c).__name__ == "ObjectElemRule"):
            key_rule = elem.children[0]
            key_node = key_rule.children[0]
            if type(key_rule).__name__ == "ObjectElemKeyExpressionRule" and _is_parenthesised(key_node):
                key: ast.Expr = self.expr(key_node)
            else:
                key = self.object_key(key_node)
            items.append((key, self.expr(elem.children[2])))
        return ast.ObjectExpr(tuple(items), self.rng(n))

    def object_key(self, node: Any) -> ast.Expr:
        """Bare identifiers as object keys are literal names, not variable references."""
        while type(node).__name__ == "ExprTermRule" and not _is_parenthesised(node):
            node = next(c for c in node.children if _is_rule(c))
        if type(node).__name__ in ("IdentifierRule", "KeywordRule", "LiteralValueRule"):
            return ast.Literal(str(node.children[0].value), self.rng(node))
        if type(node).__name__ in ("IntLitRule", "FloatLitRule"):
            return ast.Literal(str(node.children[0].value), self.rng(node))
        return self.expr(node)

    def x_StringRule(self, n: Any) -> ast.Expr:
        return self.string(n)

    def string(self, n: Any) -> ast.Template:
        pieces: list[Piece] = []
        for part in n.string_parts:
            self.flatten(part.children[0], pieces, self.rng(part))
        return assemble(pieces, self.rng(n))

    def flatten(self, c: Any, out: list[Piece], part_rng: SourceRange) -> None:
        kind = type(c).__name__
        if kind == "StringPartRule":
            self.flatten(c.children[0], out, self.rng(c))
        elif kind == "InterpolationRule":
            out.append(Piece("interp", self.rng(c), expr=self.expr(c.expression)))
        elif kind in ("TemplateIfRule", "TemplateForRule"):
            for sub in c.children:
                self.flatten(sub, out, part_rng)
        elif kind == "TemplateIfStartRule":
            out.append(Piece("if", self.rng(c), expr=self.expr(c.condition),
                             strip_left=c.strip_open, strip_right=c.strip_close))
        elif kind in ("TemplateElseRule", "TemplateEndifRule", "TemplateEndforRule"):
            word = {"TemplateElseRule": "else", "TemplateEndifRule": "endif", "TemplateEndforRule": "endfor"}[kind]
            out.append(Piece(word, self.rng(c), strip_left=c.strip_open, strip_right=c.strip_close))
        elif kind == "TemplateForStartRule":
            first = self.name_of(c.iterator)
            second = self.name_of(c.key_iterator) if c.key_iterator is not None else None
            # python-hcl2 names them the other way round: in `for k, v` the first is the key.
            key_var, value_var = (first, second) if second is not None else (None, first)
            out.append(Piece("for", self.rng(c), expr=self.expr(c.collection), key_var=key_var,
                             value_var=value_var, strip_left=c.strip_open, strip_right=c.strip_close))
        else:
            tok = c.lark_name()
            val = str(c.value)
            if tok == "STRING_CHARS":
                if "\n" in val:
                    raise DefinitionError(
                        "Invalid multi-line string",
                        "Quoted strings may not be split over multiple lines. To produce a multi-line string, either "
                        "use the \\n escape to represent a newline character or use the \"heredoc\" multi-line "
                        "template syntax.", part_rng)
                text = _unescape(val)
            elif tok in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                text = val[1:]
            else:
                text = val
            rng = SourceRange(self.file, 0, 0, 0, 0)
            if out and out[-1].kind == "lit":
                out[-1].text += text
            else:
                out.append(Piece("lit", rng, text=text))

    def x_HeredocTemplateRule(self, n: Any) -> ast.Expr:
        return self.heredoc(n, trim=False)

    def x_HeredocTrimTemplateRule(self, n: Any) -> ast.Expr:
        return self.heredoc(n, trim=True)

    def heredoc(self, n: Any, trim: bool) -> ast.Expr:
        raw = str(n.children[0].value).replace("\r\n", "\n")
        rng = self.rng(n)
        first_nl = raw.index("\n")
        body = raw[first_nl + 1 :]
        body = body[: body.rstrip("\n").rfind("\n") + 1]  # drop the closing marker line
        if trim:
            lines = body.split("\n")
            indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
            cut = min(indents, default=0)
            body = "\n".join(ln[cut:] for ln in lines)
        pieces = scan(body, self.file, rng.line + 1, 1, lambda t, ln, cl: parse_expression(t, self.file, ln, cl))
        return assemble(pieces, rng)

    def x_TemplateStringRule(self, n: Any) -> ast.Expr:
        return ast.Literal(_unescape(n.inner_value), self.rng(n))

    def x_ConditionalRule(self, n: Any) -> ast.Expr:
        return ast.Conditional(self.expr(n.condition), self.expr(n.if_true), self.expr(n.if_false), self.rng(n))

    def x_BinaryOpRule(self, n: Any) -> ast.Expr:
        term = n.binary_term
        op = str(term.binary_operator.children[0].value)
        left, right = self.expr(n.expr_term), self.expr(term.expr_term)
        # from the left operand to the right one (the rule's own span takes a trailing newline too)
        a, b = left.rng, right.rng
        return ast.Binary(op, left, right, SourceRange(self.file, a.line, a.col, b.end_line, b.end_col))

    def x_UnaryOpRule(self, n: Any) -> ast.Expr:
        operand = self.expr(n.expr_term)
        if n.operator == "-" and isinstance(operand, ast.Literal) and type(operand.value) in (int, Decimal):
            return ast.Literal(-operand.value, self.rng(n))  # type: ignore[operator]
        return ast.Unary(n.operator, operand, self.rng(n))

    def x_FunctionCallRule(self, n: Any) -> ast.Expr:
        name = "::".join(self.name_of(i) for i in n.identifiers)
        args = n.arguments
        exprs = tuple(self.expr(a) for a in args.arguments) if args is not None else ()
        return ast.Call(name, exprs, bool(args is not None and args.has_ellipsis), self.rng(n))

    def x_IndexExprTermRule(self, n: Any) -> ast.Expr:
        obj = self.expr(n.children[0])
        return ast.Index(obj, self.index_key(n.children[1]), self.rng(n))

    def index_key(self, idx: Any) -> ast.Expr:
        if type(idx).__name__ == "ShortIndexRule":
            return ast.Literal(int(str(idx.index.value)), self.rng(idx))
        return self.expr(idx.index_expression)

    def x_GetAttrExprTermRule(self, n: Any) -> ast.Expr:
        return ast.GetAttr(self.expr(n.expr_term), self.name_of(n.get_attr.identifier), self.rng(n))

    def x_AttrSplatExprTermRule(self, n: Any) -> ast.Expr:
        return self.splat(n)

    def x_FullSplatExprTermRule(self, n: Any) -> ast.Expr:
        return self.splat(n)

    def splat(self, n: Any) -> ast.Expr:
        each: list[tuple[str, object]] = []
        for t in n.children[1].children[1:]:
            if t is None:
                continue
            if type(t).__name__ == "GetAttrRule":
                each.append(("attr", self.name_of(t.identifier)))
            else:
                each.append(("index", self.index_key(t)))
        return ast.Splat(self.expr(n.children[0]), tuple(each), self.rng(n))

    def x_ForTupleExprRule(self, n: Any) -> ast.Expr:
        return self.for_expr(n, None, n.value_expr, False)

    def x_ForObjectExprRule(self, n: Any) -> ast.Expr:
        return self.for_expr(n, self.expr(n.key_expr), n.value_expr, n.ellipsis is not None)

    def for_expr(self, n: Any, key: ast.Expr | None, value: Any, group: bool) -> ast.Expr:
        intro = n.for_intro
        first = self.name_of(intro.first_iterator)
        second = self.name_of(intro.second_iterator) if intro.second_iterator is not None else None
        key_var, value_var = (first, second) if second is not None else (None, first)
        cond = self.expr(n.condition.condition_expr) if n.condition is not None else None
        return ast.ForExpr(key_var, value_var, self.expr(intro.iterable), key, self.expr(value), cond, group, self.rng(n))


def _is_rule(c: Any) -> bool:
    return c is not None and hasattr(c, "children")


def _is_parenthesised(node: Any) -> bool:
    return type(node).__name__ == "ExprTermRule" and bool(node.parentheses)
