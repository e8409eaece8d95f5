"""The state root's layout: where the root is, and that every sub-store is named from it."""

from __future__ import annotations

import os

from bake.content.stateroot import StateRoot


def test_the_root_is_the_flag_then_bake_root_then_the_xdg_cache() -> None:
    assert StateRoot.locate({"BAKE_ROOT": "/r"}, "/flag").path == "/flag"
    assert StateRoot.locate({"BAKE_ROOT": "/r", "XDG_CACHE_HOME": "/x"}).path == "/r"
    assert StateRoot.locate({"XDG_CACHE_HOME": "/x"}).path == "/x/bake"
    assert StateRoot.locate({}).path == os.path.join(os.path.expanduser("~"), ".cache", "bake")
    assert os.path.isabs(StateRoot.locate({"BAKE_ROOT": "relative"}).path)


def test_every_sub_store_lies_directly_under_the_root() -> None:
    root = StateRoot("/r")
    names = {getattr(root, f) for f in ("content", "snapshots", "run", "cache", "locks", "cachemounts", "parse",
                                        "images", "layers", "layerblobs", "resolved", "statcache")}
    assert names == {"/r/content", "/r/snapshots", "/r/run", "/r/cache", "/r/locks", "/r/cachemounts", "/r/parse",
                     "/r/images.json", "/r/layers.json", "/r/layerblobs.json", "/r/resolved.json",
                     "/r/statcache.json"}
