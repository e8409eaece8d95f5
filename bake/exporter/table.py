"""The one table of output types: ``type=NAME`` → the exporter that writes it.

Everything that needs to know which output types exist reads this table: plan-time checks
(``bake.exporter.specs``), the app writing a target's outputs, ``--help`` texts. A new output type
is one ``register`` call from its own module (or an entry replaced: ``type=docker`` without
``dest=`` loads into a Docker daemon once that exporter registers itself).
"""

from __future__ import annotations

from bake.exporter.files import CacheOnly, FilesExporter
from bake.exporter.images import ImageExporter
from bake.exporter.job import Exporter
from bake.exporter.load import DockerExporter

EXPORTERS: dict[str, Exporter] = {
    "local": FilesExporter("local"),
    "tar": FilesExporter("tar"),
    "cacheonly": CacheOnly(),
    "oci": ImageExporter("oci"),
    "docker": DockerExporter(),  # without dest=: loaded into the Docker engine (--load)
    "image": ImageExporter("image"),
    "registry": ImageExporter("registry"),
}


def register(type: str, exporter: Exporter) -> Exporter | None:
    """Make ``exporter`` write ``type=TYPE`` outputs; returns the one it replaces (None: a new type)."""
    old = EXPORTERS.get(type)
    EXPORTERS[type] = exporter
    return old


def exporter(type: str) -> Exporter:
    """The exporter of ``type`` (a KeyError for a type the plan-time check would have refused)."""
    return EXPORTERS[type]
