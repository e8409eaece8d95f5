"""@record behaves as a frozen dataclass."""

from __future__ import annotations

import pickle

import pytest

from bake._record import FrozenInstanceError, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


def test_init_defaults_equality_and_hash() -> None:
    assert Point(1) == Point(x=1, y=0)
    assert Point(1, 2) != Point(1, 3)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert repr(Point(1)) == "Point(x=1, y=0, tags=())"
    with pytest.raises(TypeError, match="missing required argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]


def test_frozen_replace_and_pickle() -> None:
    p = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    assert replace(p, y=5) == Point(1, 5)
    assert p == Point(1, 2)
    assert pickle.loads(pickle.dumps(p)) == p
