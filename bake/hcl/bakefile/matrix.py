"""``matrix``: one target block → one instance per combination of the matrix's values.

As in buildx, the matrix is a cartesian product of child scopes: each instance sees its
combination's values over the root scope, and ``name`` (evaluated in that scope) names it.
"""

from __future__ import annotations

import itertools
import math
import re

from bake._record import record
from bake.errors import DefinitionError
from bake.hcl.engine import ast
from bake.hcl.engine.eval import Evaluator, MapScope, Scope

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
MAX_MATRIX = 10_000
"""How many targets one ``matrix`` may make (the product of its value lists' lengths)."""


@record
class Instance:
    """One target block, after matrix expansion: its name, the scope its attributes see (the matrix
    values over the root scope) and the attribute values computed so far."""

    name: str
    block: ast.Block
    dir: str
    scope: Scope
    values: dict[str, object]


def expand(label: str, block: ast.Block, dir_: str, evaluator: Evaluator, root: Scope) -> list[Instance]:
    """The instances of target block ``label`` (just one without a ``matrix``), in matrix order."""
    if not NAME_RE.match(label):
        raise DefinitionError("Invalid name", 'only "[a-zA-Z0-9_-]+" are allowed', block.rng)
    matrix_attr = block.body.attribute("matrix")
    name_attr = block.body.attribute("name")
    if matrix_attr is None:
        if name_attr is not None:
            raise DefinitionError("name requires matrix", rng=name_attr.rng)
        return [Instance(label, block, dir_, root, {})]
    matrix = evaluator.eval(matrix_attr.expr, root)
    if not isinstance(matrix, dict):
        raise DefinitionError("matrix must be a map", rng=matrix_attr.rng)
    keys = sorted(matrix)
    for k in keys:
        if not isinstance(matrix[k], list):
            raise DefinitionError("matrix values must be a list", rng=matrix_attr.rng)
    count = math.prod(len(matrix[k]) for k in keys)
    if count > MAX_MATRIX:
        sizes = " × ".join(f"{k} ({len(matrix[k])})" for k in keys)
        raise DefinitionError("Matrix too large", f"{sizes} make {count} targets; a matrix may make at most "
                              f"{MAX_MATRIX} (bake's limit).", matrix_attr.rng)
    # buildx walks the matrix's Go map, so its order varies from run to run; this is the order it
    # gives most often (keys sorted, the first varying fastest): a,b = [x,y],[p,q] → x-p y-p x-q y-q
    rev = keys[::-1]
    combos = [dict(zip(rev, vals, strict=True)) for vals in itertools.product(*(matrix[k] for k in rev))]
    out: list[Instance] = []
    seen: set[str] = set()
    for combo in combos:
        if name_attr is None:
            name = label
        else:
            value = evaluator.eval(name_attr.expr, MapScope(combo, root))
            if not isinstance(value, str):
                raise DefinitionError("Invalid name", "name must be a string", name_attr.rng)
            name = value
        if not NAME_RE.match(name):
            raise DefinitionError("Invalid name", f'"{name}": only "[a-zA-Z0-9_-]+" are allowed', (name_attr or matrix_attr).rng)
        if name in seen:
            raise DefinitionError(f'duplicate name "{name}"', rng=(name_attr or matrix_attr).rng)
        seen.add(name)
        out.append(Instance(name, block, dir_, MapScope(combo, root), {}))
    return out
