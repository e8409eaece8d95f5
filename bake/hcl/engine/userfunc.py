"""User ``function`` blocks: parameters bound over the root scope, ``result`` evaluated."""

from __future__ import annotations

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine import ast
from bake.hcl.engine.cycles import InProgress
from bake.hcl.engine.eval import Evaluator, FunctionError, MapScope, Scope


class UserFunction:
    """A ``function`` block: params (+ variadic) bound over ``root`` (the top-level scope),
    ``result`` evaluated; a function that calls itself, directly or not, is a cycle."""

    def __init__(self, name: str, block: ast.Block, root: Scope, in_progress: InProgress) -> None:
        self.root = root
        self.in_progress = in_progress
        self.name = name
        self.block = block
        self._signature: tuple[list[str], list[str]] | None = None

    def _names(self, attr: str) -> list[str]:
        a = self.block.body.attribute(attr)
        if a is None:
            return []
        e = a.expr
        items = e.items if isinstance(e, ast.TupleExpr) else (e,)
        names = []
        for it in items:
            if not isinstance(it, ast.Var):
                raise DefinitionError("Invalid function parameter", "parameter names must be identifiers", it.rng)
            names.append(it.name)
        return names

    def check(self) -> None:
        if self.block.body.attribute("params") is None:
            raise DefinitionError(f"empty params not allowed for {self.name}", rng=self.block.rng)
        if self.block.body.attribute("result") is None:
            raise DefinitionError(f"empty result not allowed for {self.name}", rng=self.block.rng)
        if len(self._names("variadic_params")) > 1:
            raise DefinitionError("Invalid function parameter", "only one variadic parameter is allowed",
                                  self.block.body.attribute("variadic_params").rng)  # type: ignore[union-attr]
        self._names("params")

    def __call__(self, ctx: Evaluator, args: list[object], rng: SourceRange) -> object:
        if self._signature is None:
            self.check()
            self._signature = (self._names("params"), self._names("variadic_params"))
        params, variadic = self._signature
        if len(args) < len(params):
            raise FunctionError(f'Function "{self.name}" expects {len(params)} argument(s). Missing value for "{params[len(args)]}".',
                                summary="Not enough function arguments")
        if len(args) > len(params) and not variadic:
            raise FunctionError(f'Function "{self.name}" expects only {len(params)} argument(s).', summary="Too many function arguments")
        bound: dict[str, object] = dict(zip(params, args[: len(params)], strict=True))
        if variadic:
            bound[variadic[0]] = list(args[len(params):])
        result = self.block.body.attribute("result")
        assert result is not None
        key = ("func", self.name)
        self.in_progress.enter(key, f"function cycle not allowed for {self.name}", self.block.rng)
        try:
            return ctx.eval(result.expr, MapScope(bound, self.root))
        finally:
            self.in_progress.leave(key)
