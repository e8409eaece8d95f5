"""Declaring functions: a parameter signature (go-cty style) in front of a plain Python body.

``Signature`` converts each argument to its parameter type, rejects nulls unless allowed, and
checks the argument count, producing HCL's exact diagnostics; bodies only see clean values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bake._record import record
from bake.errors import SourceRange
from bake.hcl.engine.eval import Evaluator, FunctionError
from bake.hcl.engine.values import ConversionError, Type, convert

Body = Callable[..., object]
F = TypeVar("F", bound=Body)


@record
class Param:
    name: str
    type: Type
    allow_null: bool = False


@record
class Signature:
    """A named function: fixed ``params``, optional ``variadic`` param, and a ``body``."""

    name: str
    params: tuple[Param, ...]
    variadic: Param | None
    body: Body

    def __call__(self, ctx: Evaluator, args: list[object], rng: SourceRange) -> object:
        n = len(self.params)
        if len(args) < n:
            missing = self.params[len(args)].name
            raise FunctionError(
                f'Function "{self.name}" expects {n} argument(s). Missing value for "{missing}".',
                summary="Not enough function arguments",
            )
        if len(args) > n and self.variadic is None:
            raise FunctionError(
                f'Function "{self.name}" expects only {n} argument(s).', arg=n, summary="Too many function arguments"
            )
        converted: list[object] = []
        for i, v in enumerate(args):
            p = self.params[i] if i < n else self.variadic
            assert p is not None
            if v is None and not p.allow_null:
                raise FunctionError(
                    f'Invalid value for "{p.name}" parameter: argument must not be null.',
                    arg=i, summary="Invalid function argument",
                )
            try:
                converted.append(convert(v, p.type))
            except ConversionError as err:
                raise FunctionError(
                    f'Invalid value for "{p.name}" parameter: {err}.', arg=i, summary="Invalid function argument"
                ) from None
        try:
            return self.body(*converted)
        except FunctionError as err:
            if err.summary:
                raise
            raise FunctionError(f'Call to function "{self.name}" failed: {err}.', arg=err.arg) from None
        except (ConversionError, ArithmeticError, ValueError, OverflowError) as err:
            raise FunctionError(f'Call to function "{self.name}" failed: {err}.') from None


def p(name: str, type_: Type, allow_null: bool = False) -> Param:
    return Param(name, type_, allow_null)


class Library:
    """Collects function definitions into a name → callable table."""

    def __init__(self) -> None:
        self.table: dict[str, Any] = {}

    def define(self, name: str, *params: Param, variadic: Param | None = None) -> Callable[[F], F]:
        def deco(body: F) -> F:
            self.table[name] = Signature(name, params, variadic, body)
            return body

        return deco

    def lazy(self, name: str) -> Callable[[F], F]:
        """A function that receives its argument *expressions* (``try``, ``can``, ``convert``)."""

        def deco(body: F) -> F:
            def never_called(ctx: Evaluator, args: list[object], rng: SourceRange) -> object:
                raise AssertionError(name)

            never_called.lazy = body  # type: ignore[attr-defined]
            self.table[name] = never_called
            return body

        return deco
