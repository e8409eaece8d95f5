"""BuildKit-backed builders: the merged graph solved by a ``buildkitd`` instead of the embedded worker.

- ``builders``: buildx's builder store (``$DOCKER_CONFIG/buildx/instances``) → ``Builder`` records.
- ``llb``: bake's graph vertices → an LLB ``pb.Definition`` (our own wire-compatible schema, ``proto/``).
- ``control``: the gRPC control API client (Solve, Status, ListWorkers, Info).
- ``session/``: what the daemon asks of the client during a solve (local contexts, file exports).
- ``progress``: Status updates → bake's progress events.

Errors: ``BuilderError`` (a ``BakeError``) names the builder and node.
"""

from __future__ import annotations

from bake.errors import BakeError


class BuilderError(BakeError):
    """A builder cannot be used or failed: ``builder`` and ``node`` name where (``""`` unknown)."""

    def __init__(self, message: str, builder: str = "", node: str = "") -> None:
        self.builder = builder
        self.node = node
        where = f"builder {builder!r}" + (f", node {node!r}" if node else "")
        super().__init__(f"{where}: {message}" if builder else message)


class NotSupportedRemote(BuilderError):
    """The build asks for something bake cannot send to a BuildKit builder yet."""

    def __init__(self, what: str, builder: str = "") -> None:
        self.what = what
        super().__init__(f"not supported yet on the remote builder: {what}", builder)
