"""The exporter contract: what one output type does with one built target.

An exporter is told the typed ``OutputSpec`` (parsed and checked when the plan was made) and an
``ExportJob`` (the target's results as mounted trees or assembled images, where relative paths
start, the request's environment, whether to publish, the publisher gathering pushes and shared
layouts). It writes, or hands
its writes to the publisher, and says what it wrote. It never parses attributes and never makes a
registry client or an event loop: those come with the job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from bake.model import OutputSpec

if TYPE_CHECKING:
    from bake.exporter.images import Publisher, TargetImages

Kind = Literal["files", "image", "none"]


class Exporter(Protocol):
    """One output type (``type=local``, ``type=oci``…), as an entry of ``bake.exporter.table``.

    ``kind`` says what it exports from: ``files`` (the results mounted as trees, one per
    platform), ``image`` (the target's image, assembled once per shape), ``none`` (nothing)."""

    @property
    def kind(self) -> Kind: ...

    def check(self, spec: OutputSpec, where: str) -> None:
        """Refuse, as a ``UsageError`` prefixed by ``where``, what this type cannot write, before
        anything builds."""

    def describe(self, spec: OutputSpec) -> str:
        """The output as the progress names it (``directory out``, ``oci image format tarball x.tar``)."""

    def export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        """Write the output (or hand it to ``job.publisher``); what was written, as the result lists it."""


class ExportJob:
    """One built target, as its exporters see it. ``env`` is the request's environment (what an
    output that reaches outside reads: ``DOCKER_HOST``… for ``--load``; None: the process's).
    ``metadata`` collects buildx's ``--metadata-file`` keys (``containerimage.digest`` …) as image
    exporters add them."""

    def __init__(self, target: str, tags: Sequence[str], cwd: str, *, publish: bool = True,
                 trees: Sequence[tuple[str, str | None]] = (), images: TargetImages | None = None,
                 publisher: Publisher | None = None, env: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.tags = tuple(tags)
        self.cwd = cwd
        self.env = env
        self.publish = publish  # false: --publish=after-all after a failure; assemble, write nothing
        self.trees = list(trees)  # (subdirectory, mounted tree or None for an empty filesystem)
        self.images = images
        self.publisher = publisher
        self.metadata: dict[str, object] = {}

    def path(self, dest: str) -> str:
        """``dest`` as a path: relative to the job's directory; "" and "-" (stdout) as they are."""
        import os

        return dest if os.path.isabs(dest) or dest in ("", "-") else os.path.join(self.cwd, dest)
