"""The Docker Engine API, as bake needs it: which engine the user means (``DOCKER_HOST``, Docker
contexts), and a small client over its unix socket or plain TCP.

- ``engine``: an engine's endpoint from the environment and the Docker config (``context.py``).
- ``client``: ``/_ping``, ``/version``, ``POST /images/load``, ``GET /images/json`` and image
  inspection (httpx; this package and ``bake.registry`` are the only ones that speak HTTP).
- ``hijack``: an HTTP connection upgraded to a raw stream (``POST /grpc`` and ``POST /session``
  with ``Upgrade: h2c``): how dockerd's built-in BuildKit is reached.

Errors: ``DockerError`` names the engine's endpoint.
"""

from __future__ import annotations

from bake.errors import BakeError


class DockerError(BakeError):
    """The Docker engine at ``host`` cannot be reached, or refused a request (``status``: its HTTP
    status, 0 when there was no answer)."""

    def __init__(self, message: str, host: str = "", status: int = 0) -> None:
        self.host = host
        self.status = status
        super().__init__(f"docker engine at {host}: {message}" if host else message)
