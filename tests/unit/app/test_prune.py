"""``bake du`` and ``bake prune`` on a root laid out by hand (snapshots, cache entries, image layer
chains, blobs, records): what buildx's prune removes and keeps, ``-a``, ``--filter until=``,
``--keep-storage``, the litter of crashes, and the figures ``du`` reports. No mount is made."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bake.app.prune import parse_duration, parse_size, prune, usage
from bake.content.jsonstate import save_map
from bake.content.stateroot import StateRoot
from bake.content.store import ContentStore
from bake.errors import UsageError
from bake.solver.cache import DirCache
from bake.worker.recovery import claim
from bake.worker.snapshot import Snapshotter

NOW = 1_000_000.0
HOUR = 3600.0


class Root:
    """A bake root with overlay-kind snapshots, written through the real stores."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.layout = StateRoot(self.path)
        os.makedirs(self.layout.snapshots, exist_ok=True)
        Path(self.layout.snapshots, ".kind").write_text("overlay")
        self.snaps = Snapshotter(self.path)
        self.cache = DirCache(self.path)
        self.store = ContentStore(self.layout.content)

    def snapshot(self, parent: str | None, size: int = 10_000, commit: bool = True) -> str:
        sid = self.snaps.prepare(parent)
        Path(self.snaps.upper(sid), "data").write_bytes(b"x" * size)
        return self.snaps.commit(sid) if commit else sid

    def entry(self, name: str, result: str, age: float) -> str:
        key = "sha256:" + name * 64
        self.cache.put(key, result)
        path = Path(self.cache.dir, key[7:9], key[9:])
        os.utime(path, (NOW - age, NOW - age))
        return key

    def entries(self) -> dict[str, str]:
        return {e.key[7:8]: e.result for e in self.cache.entries()}

    def image_chains(self, chains: dict[str, str]) -> None:
        save_map(self.layout.layers, chains)

    def chains(self) -> dict[str, str]:
        doc: dict[str, str] = json.loads(Path(self.layout.layers).read_text())
        return doc


@pytest.fixture
def root(tmp_path: Path) -> Root:
    return Root(tmp_path / "root")


def test_plain_prune_removes_all_build_cache_but_keeps_the_unpacked_base_images(root: Root) -> None:
    base = root.snapshot(None)  # an image's layer chain, unpacked
    step = root.snapshot(base)  # a RUN on it
    other = root.snapshot(None)  # a COPY into scratch
    root.image_chains({"sha256:chain": base})
    root.entry("a", step, age=10)
    root.entry("b", other, age=10)
    before = usage(root.path)
    assert (before.entries, before.snapshots, before.reclaimable_bytes) == (2, 3, 0)

    done = prune(root.path, until=-1, now=NOW, keep_images=True)  # `bake prune`, no flags

    assert root.entries() == {} and root.snaps.ids() == [base]
    assert root.chains() == {"sha256:chain": base}
    after = usage(root.path)
    assert (done.entries, done.snapshots) == (2, 2)
    assert done.bytes == before.snapshot_bytes - after.snapshot_bytes > 0


def test_prune_all_removes_base_images_too_and_every_blob_no_stored_image_uses(root: Root) -> None:
    base = root.snapshot(None)
    root.image_chains({"sha256:chain": base})
    root.entry("a", root.snapshot(base), age=0)
    layer = root.store.write(b"\x1f\x8b not json")  # a layer: nothing to follow inside
    config = root.store.write(b'{"architecture":"amd64"}')
    manifest = root.store.write(json.dumps({"config": {"digest": config}, "layers": [{"digest": layer}]}).encode())
    index = root.store.write(json.dumps({"manifests": [{"digest": manifest}, {"digest": "sha256:" + "0" * 64}]}).encode())
    unused = root.store.write(b"a blob of a pruned image")
    save_map(root.layout.images, {"app:latest": {"mediaType": "application/vnd.oci.image.index.v1+json",
                                                 "digest": index, "size": 10}})

    done = prune(root.path, until=-1, now=NOW, blobs=True)  # `bake prune -a`

    assert root.snaps.ids() == [] and root.entries() == {} and root.chains() == {}
    assert sorted(root.store.digests()) == sorted([layer, config, manifest, index])
    assert not root.store.exists(unused)
    assert done.bytes >= len(b"a blob of a pruned image")
    assert usage(root.path).images == 1


def test_until_removes_only_entries_unused_for_that_long_and_nothing_a_kept_one_needs(root: Root) -> None:
    first = root.snapshot(None)
    second = root.snapshot(first)
    lone = root.snapshot(None)
    image = root.snapshot(None)
    root.image_chains({"sha256:img": image})
    root.entry("a", first, age=2 * HOUR)  # old, but its snapshot is the recent entry's parent
    root.entry("b", second, age=10)
    root.entry("c", lone, age=2 * HOUR)

    done = prune(root.path, until=HOUR, now=NOW)

    assert root.entries() == {"a": first, "b": second}  # removing a would free nothing
    assert root.snaps.ids() == [first, second]  # without keep_images the unused image chain goes too
    assert root.chains() == {}
    assert (done.entries, done.snapshots) == (1, 2)


def test_keep_storage_drops_the_least_recently_used_until_the_rest_fits(root: Root) -> None:
    old = root.snapshot(None, size=40_000)
    mid = root.snapshot(None, size=40_000)
    new = root.snapshot(None, size=40_000)
    root.entry("a", old, age=300)
    root.entry("b", mid, age=200)
    root.entry("c", new, age=100)
    one = usage(root.path).snapshot_bytes // 3

    prune(root.path, keep_storage=one + one // 2, now=NOW)

    assert root.entries() == {"c": new} and root.snaps.ids() == [new]


def test_litter_of_crashes_goes_and_its_records_are_forgotten(root: Root) -> None:
    kept = root.snapshot(None)
    active = root.snapshot(None, commit=False)  # left uncommitted by a killed build
    root.entry("a", kept, age=0)
    root.entry("d", "999", age=0)  # its snapshot is gone
    broken = Path(root.snaps.dir, "77.broken")  # set aside as damaged by a build
    (broken / "fs").mkdir(parents=True)
    (broken / "fs/junk").write_bytes(b"j" * 5000)
    save_map(root.layout.layerblobs, {
        f"{kept} gzip None None": {"descriptor": {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                                  "digest": "sha256:" + "1" * 64, "size": 1}, "diff_id": "sha256:" + "2" * 64},
        f"{active} gzip None None": {"descriptor": {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                                    "digest": "sha256:" + "3" * 64, "size": 1}, "diff_id": "sha256:" + "4" * 64}})

    done = prune(root.path, now=NOW)  # no filter: only what nothing keeps alive

    assert root.entries() == {"a": kept} and root.snaps.ids() == [kept]
    assert not broken.exists() and root.snaps.broken() == []
    assert [k.partition(" ")[0] for k in json.loads(Path(root.layout.layerblobs).read_text())] == [kept]
    assert done.entries == 1 and done.snapshots == 1 and done.bytes > 5000


def test_a_flattened_copy_stays_while_a_chain_it_serves_does(root: Root) -> None:
    low = root.snapshot(None)
    top = root.snapshot(low)
    flat = root.snapshot(None)  # what a long chain's mount reads instead of its lowers
    Path(root.snaps.dir, top, "flat").write_text(flat)
    root.entry("a", top, age=0)

    prune(root.path, now=NOW)

    assert root.snaps.ids() == [low, top, flat]


def test_prune_refuses_while_a_build_holds_the_root(root: Root) -> None:
    scratch = claim(root.layout.run)
    try:
        with pytest.raises(UsageError, match="a build is running with this root"):
            prune(root.path, until=-1)
    finally:
        scratch.release()
    prune(root.path, until=-1)  # released: allowed again


def test_du_counts_what_nothing_keeps_alive_as_reclaimable(root: Root) -> None:
    used = root.snapshot(None, size=8192)
    loose = root.snapshot(None, size=8192)
    root.entry("a", used, age=0)
    root.store.write(b"blob")
    Path(root.layout.cachemounts, "go-build").mkdir(parents=True)
    Path(root.layout.cachemounts, "go-build/x").write_bytes(b"c" * 4096)

    u = usage(root.path)

    assert (u.entries, u.snapshots, u.images) == (1, 2, 0)
    assert 0 < u.reclaimable_bytes < u.snapshot_bytes and u.reclaimable_bytes >= 8192
    assert u.content_bytes > 0 and u.cachemount_bytes >= 4096
    assert loose in root.snaps.ids()  # du only looks


def test_sizes_and_durations_as_buildx_takes_them() -> None:
    assert [parse_size(s) for s in ("512", "10kb", "1.5MB", " 2g ", "1t")] == [512, 10240, 1572864, 2 << 30, 1 << 40]
    assert [parse_duration(d) for d in ("24h", "90m", "1h30m", "7d", "1.5s", "250ms")] == [
        86400, 5400, 5400, 604800, 1.5, 0.25]
    for bad in ("10 parsecs", "", "-1mb"):
        with pytest.raises(UsageError, match="invalid size"):
            parse_size(bad)
    for bad in ("", "1w", "1h junk", "h"):
        with pytest.raises(UsageError, match="invalid duration"):
            parse_duration(bad)
