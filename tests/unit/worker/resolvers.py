"""Run a test module on both in-root resolvers: import ``resolver`` into it (an autouse fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bake.worker import inroot


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test once with ``openat2(RESOLVE_IN_ROOT)`` (skipped where the kernel lacks it) and once
    with the ``O_NOFOLLOW`` walk: the two must agree on every tree."""
    if request.param == "openat2" and not inroot.openat2_available():
        pytest.skip("this kernel has no openat2")
    monkeypatch.setattr(inroot, "_openat2_works", request.param == "openat2")
    yield request.param
