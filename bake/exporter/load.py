"""``type=docker`` without ``dest=`` (``--load``): the image loaded into the Docker engine the user
means (``DOCKER_HOST``, else the current Docker context, as the job's environment says), as buildx
does for its container drivers: a ``docker save``-format tarball streamed to the engine's
``POST /images/load``.

With ``dest=`` it is the docker-format layout of ``ImageExporter("docker")``, unchanged.
The tarball is written to a private temporary file first (the image is assembled and written by
the same code as a ``dest=`` tarball, with its repairs), then streamed (``bake.docker.client.load_file``).
"""

from __future__ import annotations

import os
import tempfile
from typing import Literal

from bake._record import replace
from bake.errors import UsageError
from bake.exporter.errors import ExportError
from bake.exporter.images import ImageExporter
from bake.exporter.job import ExportJob
from bake.model import OutputSpec


class DockerExporter:
    """``type=docker``: a tarball or layout at ``dest=``, else loaded into the Docker engine."""

    kind: Literal["image"] = "image"

    def __init__(self) -> None:
        self.layout = ImageExporter("docker")

    def check(self, spec: OutputSpec, where: str) -> None:
        if spec.dest:
            self.layout.check(spec, where)
        elif spec.multi_target:
            raise UsageError(f"{where}: multi-target=true needs dest= (a load sends each target's image)")

    def describe(self, spec: OutputSpec) -> str:
        return self.layout.describe(spec) if spec.dest else "docker image format, loading into the Docker engine"

    def export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        if spec.dest:
            return self.layout.export(spec, job)
        from bake.docker import DockerError
        from bake.docker.client import load_file
        from bake.docker.context import engine

        env = os.environ if job.env is None else job.env
        what = f"target {job.target}: output type=docker (--load)"
        with tempfile.TemporaryDirectory(prefix="bake-load-") as tmp:
            tarball = os.path.join(tmp, "image.tar")
            self.layout.export(replace(spec, dest=tarball), job)
            if not job.publish:
                return []
            try:
                where = engine(None, env)
                loaded = load_file(tarball, where)
            except DockerError as err:
                raise ExportError(f"{what}: {err.message}") from None
        return [f"loaded into the Docker engine at {where.host}: {', '.join(loaded) or 'an untagged image'}"]

