"""A ``cache-from`` directory of the wrong shape is a miss with a reason, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from bake.content.store import ContentStore
from bake.worker.images import ImageStore
from bake.worker.remotecache import CACHE_CONFIG, ImportedCache, LocalSource
from bake.worker.snapshot import Snapshotter


def layout(d: Path, index: object, config: object | None = None) -> None:
    blobs = d / "blobs/sha256"
    blobs.mkdir(parents=True)
    manifests = []
    if config is not None:
        store = ContentStore(str(d / "tmp"))
        c = store.write(json.dumps(config).encode())
        m = store.write(json.dumps({"config": {"mediaType": CACHE_CONFIG, "digest": c}}).encode())
        for digest in (c, m):
            (blobs / digest.partition(":")[2]).write_bytes(store.read(digest))
        manifests = [{"digest": m}]
    (d / "index.json").write_text(json.dumps({"manifests": manifests} if index is None else index))


@pytest.mark.parametrize(("index", "config"), [
    ([], None), ({"manifests": 3}, None), ({"manifests": [7]}, None), ({"manifests": [{}]}, None),
    (None, []), (None, {"keys": []}), (None, {"keys": {"sha256:k": [5]}, "layers": []}),
    (None, {"keys": {"sha256:k": "x"}, "layers": [1]}),
])
def test_a_cache_of_the_wrong_shape_is_a_miss(index: object, config: object, tmp_path: Path) -> None:
    layout(tmp_path / "cache", index, config)
    images = ImageStore(str(tmp_path / "root"), ContentStore(str(tmp_path / "root/content")),
                        Snapshotter(str(tmp_path / "root")))
    imported = ImportedCache(images, [LocalSource(str(tmp_path / "cache"))])
    assert anyio.run(imported.fetch, "sha256:k") is None
    assert imported.failures and all(f.startswith("cache-from") for f in imported.failures)
