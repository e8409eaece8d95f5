"""Cache mounts: shared, locked (across processes) and private sharing modes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from bake.worker.cachemounts import CacheMounts


def test_shared_and_private(tmp_path: Path) -> None:
    caches = CacheMounts(str(tmp_path))
    a, b = caches.acquire("npm"), caches.acquire("npm")
    assert a.path == b.path and os.path.isdir(a.path)
    p1 = caches.acquire("pip", "private")
    p2 = caches.acquire("pip", "private")
    assert p1.path != p2.path  # the main one was taken
    p1.release()
    p3 = caches.acquire("pip", "private")
    assert p3.path == p1.path
    for lease in (a, b, p2, p3):
        lease.release()
    assert caches.acquire("other", mode=0o700).path != a.path
    assert oct(os.stat(caches.acquire("m", mode=0o700, uid=1000, gid=1000).path).st_mode & 0o777) == "0o700"


def test_locked_waits_for_another_process(tmp_path: Path) -> None:
    # the holder keeps the lock until told to let go (a line on its stdin): no guess at timings
    marker = tmp_path / "released"
    code = (
        "import sys; from pathlib import Path; from bake.worker.cachemounts import CacheMounts\n"
        f"lease = CacheMounts({str(tmp_path)!r}).acquire('apt', 'locked')\n"
        f"print('held', flush=True); sys.stdin.readline(); Path({str(marker)!r}).write_text('x'); lease.release()\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          cwd=Path(__file__).resolve().parents[3]) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        acquired = threading.Event()
        seen: list[bool] = []

        def acquire() -> None:
            lease = CacheMounts(str(tmp_path)).acquire("apt", "locked")
            seen.append(marker.exists())  # the lock was only granted after the other process let go
            acquired.set()
            lease.release()

        waiter = threading.Thread(target=acquire)
        waiter.start()
        assert not acquired.wait(0.2)  # still blocked (a correct lock never gets here early)
        holder.stdin.write("release\n")
        holder.stdin.flush()
        waiter.join(timeout=30)
        assert seen == [True]
        holder.wait(timeout=10)
