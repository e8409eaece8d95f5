"""The output types that write a target's filesystem: ``type=local`` (a directory, synced),
``type=tar`` (one tarball), and ``type=cacheonly`` (nothing: the result stays in the cache)."""

from __future__ import annotations

from typing import Literal

from bake.errors import UsageError
from bake.exporter.errors import output_errors
from bake.exporter.job import ExportJob
from bake.model import OutputSpec


class FilesExporter:
    """``type=local`` or ``type=tar``: each platform's tree (in a subdirectory named after the
    platform when the target has several)."""

    kind: Literal["files"] = "files"

    def __init__(self, type: str) -> None:
        self.type = type

    def check(self, spec: OutputSpec, where: str) -> None:
        if not spec.dest:
            raise UsageError(f"{where} needs dest=")

    def describe(self, spec: OutputSpec) -> str:
        return f"{'directory' if self.type == 'local' else 'tarball'} {spec.dest}"

    def export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        from bake.exporter.local import export_local
        from bake.exporter.tar import export_tar

        if not job.publish:
            return []
        with output_errors(f"target {job.target}: output type={spec.type},dest={spec.dest}"):
            (export_local if self.type == "local" else export_tar)(job.trees, job.path(spec.dest))
        return [f"type={spec.type},dest={spec.dest}"]


class CacheOnly:
    """``type=cacheonly``: the build's results stay in the build cache, nothing is written."""

    kind: Literal["none"] = "none"

    def check(self, spec: OutputSpec, where: str) -> None:
        """Any attributes are accepted (and ignored), as buildx does."""

    def describe(self, spec: OutputSpec) -> str:
        return "cache only"

    def export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        return []
