"""``type=docker`` without ``dest=`` (``--load``) is accepted at plan time and sent to the engine;
with ``dest=`` it is the docker-format layout, as before."""

from __future__ import annotations

import pytest

from bake.errors import UsageError
from bake.exporter.load import DockerExporter
from bake.exporter.table import exporter
from bake.model import OutputSpec


def test_the_table_s_docker_type_loads_without_dest() -> None:
    assert isinstance(exporter("docker"), DockerExporter)
    DockerExporter().check(OutputSpec("docker"), "target app: output type=docker")  # no error: --load
    assert DockerExporter().describe(OutputSpec("docker")) == "docker image format, loading into the Docker engine"
    assert DockerExporter().describe(OutputSpec("docker", dest="app.tar")) == "docker image format tarball app.tar"


def test_a_shared_layout_needs_a_dest() -> None:
    with pytest.raises(UsageError, match="multi-target=true needs dest="):
        DockerExporter().check(OutputSpec("docker", multi_target=True), "target app: output type=docker")
