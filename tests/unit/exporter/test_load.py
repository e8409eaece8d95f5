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


def test_several_platforms_cannot_be_loaded_and_are_refused_when_the_plan_is_made() -> None:
    from bake.exporter.specs import plan_specs
    from bake.model import ExportEntry, Plan, Target

    app = Target(("name", "platforms", "output"), "app", platforms=("linux/amd64", "linux/arm64"),
                 output=(ExportEntry("docker", ""),))
    with pytest.raises(UsageError, match=r"target app: output type=docker: docker exporter does not currently support "
                                         r"exporting manifest lists \(2 platforms; use type=oci, or one platform: "
                                         r"--set app\.platform=…\)"):
        plan_specs(Plan({}, {"app": app}))
    one = Target(("name", "platforms", "output"), "one", platforms=("linux/amd64",), output=(ExportEntry("docker", ""),))
    assert plan_specs(Plan({}, {"one": one}))["one"].outputs[0].type == "docker"
