"""``FileLocks``: one holder per key across processes, never blocked by a killed holder, no files left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from bake.solver.locks import FileLocks

KEY = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32

HOLDER = """
import sys, anyio
from bake.solver.locks import FileLocks

async def main():
    async with FileLocks(sys.argv[1]).hold(sys.argv[2], lambda: None):
        print("held", flush=True)
        await anyio.sleep(60)

anyio.run(main)
"""


@contextlib.contextmanager
def holder(root: Path, key: str = KEY) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``key``'s lock (it says so on stdout, then sleeps); killed on exit."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(root), key], stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "held\n"
            yield proc
        finally:
            proc.kill()


def test_a_key_has_one_holder_at_a_time_and_other_keys_do_not_wait(tmp_path: Path) -> None:
    locks = FileLocks(str(tmp_path))
    inside: list[str] = []
    together: list[int] = []
    waited: list[str] = []

    async def use(name: str, key: str) -> None:
        async with locks.hold(key, lambda: waited.append(name)):
            inside.append(name)
            together.append(sum(n.startswith("same") for n in inside))
            await anyio.sleep(0.05)
            inside.remove(name)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(use, f"same{n}", KEY)
            tg.start_soon(use, "other", OTHER)

    anyio.run(main)
    assert len(together) == 5 and max(together) == 1
    assert sorted(waited) == ["same1", "same2", "same3"]
    assert os.listdir(tmp_path / "locks") == []  # each holder removed its file


def test_another_process_holding_the_key_makes_it_wait(tmp_path: Path) -> None:
    waited: list[bool] = []

    async def main() -> bool:
        with anyio.move_on_after(0.5):
            async with FileLocks(str(tmp_path)).hold(KEY, lambda: waited.append(True)):
                return True
        return False

    with holder(tmp_path):
        assert anyio.run(main) is False and waited == [True]


def test_a_holder_killed_with_sigkill_does_not_block_the_next(tmp_path: Path) -> None:
    entered: list[bool] = []

    async def main(proc: subprocess.Popen[str]) -> None:
        async with anyio.create_task_group() as tg:
            async def wait_for_it() -> None:
                async with FileLocks(str(tmp_path)).hold(KEY, lambda: entered.append(False)):
                    entered.append(True)
            tg.start_soon(wait_for_it)
            await anyio.sleep(0.3)
            assert entered == [False]  # it is waiting for the other process
            proc.send_signal(signal.SIGKILL)
            with anyio.fail_after(10):
                while entered != [False, True]:
                    await anyio.sleep(0.02)

    with holder(tmp_path) as proc:
        anyio.run(main, proc)
    assert os.listdir(tmp_path / "locks") == []  # the next holder removed the file the killed one left


def test_clean_removes_files_of_killed_holders_and_keeps_held_ones(tmp_path: Path) -> None:
    with holder(tmp_path, OTHER):
        pass
    with holder(tmp_path, KEY):
        assert sorted(os.listdir(tmp_path / "locks")) == [KEY[7:], OTHER[7:]]
        assert FileLocks(str(tmp_path)).clean() == 1
        assert os.listdir(tmp_path / "locks") == [KEY[7:]]
    assert FileLocks(str(tmp_path / "nothing")).clean() == 0


def test_a_lock_that_cannot_be_made_does_not_stop_the_build(tmp_path: Path) -> None:
    (tmp_path / "locks").write_text("not a directory")
    entered: list[bool] = []

    async def main() -> None:
        async with FileLocks(str(tmp_path)).hold(KEY, lambda: None):
            entered.append(True)

    anyio.run(main)
    assert entered == [True]


@pytest.mark.parametrize("key", [KEY, "plain"])
def test_a_waiter_wins_after_the_holder_leaves_even_though_the_file_was_replaced(tmp_path: Path, key: str) -> None:
    """The holder unlinks its file as it leaves; a waiter must lock the new file, not the old one."""
    locks = FileLocks(str(tmp_path), poll=0.001, longest=0.001)
    inside = 0
    most = 0

    async def use() -> None:
        nonlocal inside, most
        for _ in range(20):
            async with locks.hold(key, lambda: None):
                inside += 1
                most = max(most, inside)
                await anyio.sleep(0)
                inside -= 1

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(use)

    anyio.run(main)
    assert most == 1
