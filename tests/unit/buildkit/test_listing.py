"""``bake builders``: the embedded worker and buildx's store, laid out as ``docker buildx ls``."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from bake.buildkit.listing import BuilderStatus, NodeStatus, statuses, table


def test_table_as_buildx_ls_lays_it_out() -> None:
    text = table([
        BuilderStatus("embedded", "embedded", False, (NodeStatus("embedded", "", "running", "", ("linux/amd64",)),)),
        BuilderStatus("two", "remote", True, (
            NodeStatus("n0", "unix:///b.sock", "running", "v0.32.2", ("linux/amd64*", "linux/386")),
            NodeStatus("n1", "tcp://10.0.0.2:1234", "inactive", "", ("linux/arm64*",), "builder 'two', node 'n1': down"))),
    ])
    assert text == (
        "NAME/NODE   DRIVER/ENDPOINT           STATUS     BUILDKIT   PLATFORMS\n"
        "embedded    embedded                  running               linux/amd64\n"
        "two*        remote\n"
        " \\_ n0       \\_ unix:///b.sock        running    v0.32.2    linux/amd64*, linux/386\n"
        " \\_ n1       \\_ tcp://10.0.0.2:1234   inactive              linux/arm64*\n"
        "\n"
        "builder 'two', node 'n1': down\n")


def test_store_entries_unreachable_nodes_and_unreadable_entries(tmp_path: Path) -> None:
    store = tmp_path / "buildx" / "instances"
    store.mkdir(parents=True)
    (store / "far").write_text(json.dumps({"Name": "far", "Driver": "remote", "Nodes": [
        {"Name": "far0", "Endpoint": f"unix://{tmp_path}/none.sock", "Platforms": [{"os": "linux", "architecture": "arm64"}]}]}))
    (store / "broken").write_text("{not json")
    env = {"DOCKER_CONFIG": str(tmp_path), "BUILDX_BUILDER": "far", "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    got = anyio.run(statuses, env, "linux/amd64", 2.0)
    assert [(b.name, b.current) for b in got] == [("embedded", False), ("broken", False), ("far", True),
                                                  ("default", False)]
    assert (got[3].driver, got[3].nodes[0].status) == ("docker", "inactive")  # the Docker context, no engine there
    assert "cannot reach the engine" in got[3].nodes[0].error
    assert "cannot read" in got[1].error
    node = got[2].nodes[0]
    assert (node.name, node.status, node.platforms) == ("far0", "inactive", ("linux/arm64*",))
    assert "builder 'far', node 'far0': cannot reach buildkitd" in node.error
