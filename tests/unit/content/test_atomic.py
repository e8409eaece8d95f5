"""Atomic writes: whole or absent, and fsynced unless the record's loss is detected elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bake.content import atomic


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", counting)
    return calls


def test_a_durable_write_is_fsynced_before_it_takes_the_name(tmp_path: Path, fsyncs: list[int]) -> None:
    atomic.write_atomic(str(tmp_path / "record"), b"data")
    assert (tmp_path / "record").read_bytes() == b"data" and len(fsyncs) == 1


def test_a_write_that_need_not_be_durable_is_not_fsynced(tmp_path: Path, fsyncs: list[int]) -> None:
    atomic.write_atomic(str(tmp_path / "record"), b"data", durable=False)
    assert (tmp_path / "record").read_bytes() == b"data" and fsyncs == []
    assert os.listdir(tmp_path) == ["record"]  # no temp file left behind either way


def test_a_failed_write_leaves_nothing(tmp_path: Path, fsyncs: list[int]) -> None:
    with pytest.raises(RuntimeError), atomic.atomic_file(str(tmp_path / "record"), durable=False) as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
