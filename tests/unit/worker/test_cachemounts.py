"""Cache mounts: shared, locked (across processes) and private sharing modes."""

from __future__ import annotations

import os
import subprocess
import sys
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
    marker = tmp_path / "released"
    code = (
        "import time; from pathlib import Path; from bake.worker.cachemounts import CacheMounts\n"
        f"lease = CacheMounts({str(tmp_path)!r}).acquire('apt', 'locked')\n"
        f"print('held', flush=True); time.sleep(0.5); Path({str(marker)!r}).write_text('x'); lease.release()\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                          cwd=Path(__file__).resolve().parents[3]) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lease = CacheMounts(str(tmp_path)).acquire("apt", "locked")
        assert marker.exists()  # the lock was only granted after the other process let go
        lease.release()
        holder.wait(timeout=10)
