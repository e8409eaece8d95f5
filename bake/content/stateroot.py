"""The layout of bake's state root: the one place a sub-store's path is spelled.

Every file or folder under the root has one owner module, which reaches it through this record:

    content/          blobs by digest (content/store.py)
    snapshots/        committed and active snapshots (worker/snapshot.py, copysnapshot.py)
    run/              each build's scratch directory and the runtime's state (worker/recovery.py)
    cache/            cache key → result (solver/cache.py)
    locks/            cache-key locks shared by processes (solver/locks.py)
    cachemounts/      RUN --mount=type=cache directories (worker/cachemounts.py)
    explain/          per target, the last build's step keys and what made them (app/explain.py)
    exported/         per target and local output, what the last export left there (app/exported.py)
    parse/            parsed HCL trees (hcl)
    images.json       name → descriptor of images built with type=image
    layers.json       layer chain → snapshot id (worker/images.py)
    layerblobs.json   snapshot → compressed layer blob (worker/layers.py)
    resolved.json     "ref platform" → manifest digest (worker/images.py)
    resolved-roots.json  "ref platform manifest" → the digest the ref resolved to, an index's (worker/images.py)
    statcache.json    context file digests by stat (worker/context.py)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bake._record import record


@record
class StateRoot:
    path: str

    @classmethod
    def locate(cls, env: Mapping[str, str], override: str | None = None) -> StateRoot:
        """``--root``, else ``$BAKE_ROOT``, else ``$XDG_CACHE_HOME/bake`` (``~/.cache/bake``)."""
        if override:
            return cls(os.path.abspath(override))
        cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return cls(os.path.abspath(env.get("BAKE_ROOT") or os.path.join(cache, "bake")))

    @property
    def content(self) -> str:
        return os.path.join(self.path, "content")

    @property
    def snapshots(self) -> str:
        return os.path.join(self.path, "snapshots")

    @property
    def run(self) -> str:
        return os.path.join(self.path, "run")

    @property
    def cache(self) -> str:
        return os.path.join(self.path, "cache")

    @property
    def locks(self) -> str:
        return os.path.join(self.path, "locks")

    @property
    def cachemounts(self) -> str:
        return os.path.join(self.path, "cachemounts")

    @property
    def explain(self) -> str:
        return os.path.join(self.path, "explain")

    @property
    def exported(self) -> str:
        return os.path.join(self.path, "exported")

    @property
    def parse(self) -> str:
        return os.path.join(self.path, "parse")

    @property
    def images(self) -> str:
        return os.path.join(self.path, "images.json")

    @property
    def layers(self) -> str:
        return os.path.join(self.path, "layers.json")

    @property
    def layerblobs(self) -> str:
        return os.path.join(self.path, "layerblobs.json")

    @property
    def resolved(self) -> str:
        return os.path.join(self.path, "resolved.json")

    @property
    def resolved_roots(self) -> str:
        return os.path.join(self.path, "resolved-roots.json")

    @property
    def statcache(self) -> str:
        return os.path.join(self.path, "statcache.json")
