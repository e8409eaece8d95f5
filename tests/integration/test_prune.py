"""``bake du`` and ``bake prune`` on a real cache: old entries go with the snapshots only they keep."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bake.app.prune import parse_duration, parse_size, prune, usage
from bake.errors import UsageError
from bake.solver.cache import DirCache
from bake.worker.recovery import claim
from tests.integration.test_build import executed, project, run

HCL = 'group "default" {\n  targets = ["old", "new"]\n}\ntarget "old" {\n  target = "old"\n}\ntarget "new" {\n  target = "new"\n}\n'


@pytest.mark.root
def test_prune_removes_what_was_not_used_recently_and_keeps_the_rest_cached(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, HCL, f"FROM {busybox_image} AS base\nRUN echo base > /base\n"
                "FROM base AS old\nRUN head -c 100000 /dev/zero > /old\nFROM base AS new\nRUN echo new > /new\n")
    root = tmp_path / "root"
    run(d, root)
    before = usage(str(root))
    assert before.entries == 4 and before.snapshots >= 4 and before.reclaimable_bytes == 0
    cache = DirCache(str(root))
    (latest,) = run(d, root, "new")
    week_ago = time.time() - 7 * 86400
    for e in cache.entries():  # every entry but the top of "new" was last used a week ago
        if e.result != latest.results[0]:
            os.utime(cache._path(e.key), (week_ago, week_ago))
    done = prune(str(root), until=parse_duration("24h"))
    assert done.entries == 1 and done.snapshots == 1 and done.bytes >= 100000  # only "old" had its own
    assert executed(run(d, root, "new")) == 0  # still cached
    assert executed(run(d, root, "old")) == 1  # its base is still cached; only its own step runs again


@pytest.mark.root
def test_prune_all_and_keep_storage(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, HCL, f"FROM {busybox_image} AS old\nRUN head -c 300000 /dev/zero > /a\n"
                f"FROM {busybox_image} AS new\nRUN head -c 300000 /dev/zero > /b\n")
    root = tmp_path / "root"
    run(d, root, "old")
    run(d, root, "new")
    total = usage(str(root)).snapshot_bytes
    done = prune(str(root), keep_storage=total - 100000)
    assert done.entries == 1  # the least recently used entry went, the other fits
    assert executed(run(d, root, "new")) == 0
    prune(str(root), until=-1)
    assert usage(str(root)).entries == 0 and usage(str(root)).snapshots == 0
    assert executed(run(d, root)) == 4


def test_prune_refuses_while_a_build_runs(tmp_path: Path) -> None:
    scratch = claim(str(tmp_path / "run"))
    try:
        with pytest.raises(UsageError, match="a build is running"):
            prune(str(tmp_path))
    finally:
        scratch.release()


def test_sizes_and_durations_parse_as_buildx_writes_them() -> None:
    assert parse_size("512mb") == 512 << 20 and parse_size("10GB") == 10 << 30 and parse_size("100") == 100
    assert parse_duration("24h") == 86400 and parse_duration("1h30m") == 5400 and parse_duration("7d") == 7 * 86400
    with pytest.raises(UsageError):
        parse_duration("soon")


@pytest.mark.root
def test_prune_without_flags_is_buildxs_and_all_leaves_no_unused_blob(busybox_image: str, tmp_path: Path) -> None:
    """``bake prune``: all build cache not in use goes, the unpacked base images stay (buildx keeps its
    internal images); ``prune -a``: everything, and no blob that no stored image uses."""
    from bake.content.store import ContentStore

    d = project(tmp_path, 'target "default" {}\ntarget "kept" {\n  output = ["type=image,name=bake.local/kept:1"]\n}\n',
                f"FROM {busybox_image}\nRUN head -c 200000 /dev/zero > /a\n")
    root = tmp_path / "root"
    run(d, root, "default")
    assert usage(str(root)).entries == 2
    done = prune(str(root), until=-1, keep_images=True)  # what the CLI passes for a plain `bake prune`
    after = usage(str(root))
    # the RUN's entry went; the base image's entry and layer stay (removing them would free nothing)
    assert done.entries == 1 and after.entries == 1 and after.snapshots == 1 and after.reclaimable_bytes == 0
    assert executed(run(d, root, "default")) == 1  # its RUN again; the base needed no pull
    run(d, root, "kept")  # an image in bake's store keeps its blobs through prune -a
    prune(str(root), until=-1, blobs=True)
    store = ContentStore(str(root / "content"))
    assert usage(str(root)).snapshots == 0 and store.digests()
    kept = json.loads((root / "images.json").read_text())
    top = next(iter(kept.values()))["digest"]
    assert store.exists(top)
    os.unlink(root / "images.json")
    prune(str(root), until=-1, blobs=True)
    assert store.digests() == []  # nothing uses them any more
