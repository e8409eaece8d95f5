"""Reading buildx's builder store: the document buildx v0.36.1 writes for
``docker buildx create --name ref --driver remote unix:///work/ref/buildkitd.sock``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bake.buildkit import BuilderError
from bake.buildkit.builders import TLS, Builder, Node, check, load, route, selected_name, tls

REF = ('{"Name":"ref","Driver":"remote","Nodes":[{"Name":"ref0","Endpoint":"unix:///work/ref/buildkitd.sock",'
       '"Platforms":null,"DriverOpts":null,"Flags":null,"Files":null}],"Dynamic":false}')


def _store(tmp_path: Path, name: str, doc: str) -> dict[str, str]:
    d = tmp_path / "buildx" / "instances"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(doc)
    return {"DOCKER_CONFIG": str(tmp_path)}


def test_reads_a_remote_builder_as_buildx_wrote_it(tmp_path: Path) -> None:
    env = _store(tmp_path, "ref", REF)
    b = load("ref", env)
    assert b == Builder("ref", "remote", (Node("ref0", "unix:///work/ref/buildkitd.sock"),))
    assert [n.endpoint for n in check(b)] == ["unix:///work/ref/buildkitd.sock"]


def test_names_are_looked_up_lower_cased_as_buildx_stores_them(tmp_path: Path) -> None:
    env = _store(tmp_path, "ref", REF)
    assert load("Ref", env).name == "ref"


def test_platforms_and_driver_opts(tmp_path: Path) -> None:
    doc = json.loads(REF)
    doc["Nodes"][0]["Platforms"] = [{"architecture": "arm", "os": "linux", "variant": "v7"}]
    doc["Nodes"][0]["DriverOpts"] = {"cacert": "/ca.pem"}
    b = load("ref", _store(tmp_path, "ref", json.dumps(doc)))
    assert b.nodes[0].platforms == ("linux/arm/v7",)
    with pytest.raises(BuilderError, match=r"builder 'ref', node 'ref0': TLS options need a tcp:// endpoint"):
        check(b)


def test_tls_files_as_buildx_checks_them(tmp_path: Path) -> None:
    def node(**opts: str) -> tuple[Builder, Node]:
        n = Node("n0", "tcp://buildkit.example:1234", driver_opts=tuple(sorted(opts.items())))
        return Builder("b", "remote", (n,)), n

    assert tls(*node()) is None
    assert tls(*node(cacert="/ca.pem")) == TLS("/ca.pem", servername="buildkit.example")  # the endpoint's host
    assert tls(*node(cacert="/ca.pem", cert="/c.pem", key="/k.pem", servername="bk")) == TLS(
        "/ca.pem", "/c.pem", "/k.pem", "bk")
    with pytest.raises(BuilderError, match="tls enabled, but missing keys cacert, key"):
        tls(*node(cert="/c.pem"))
    with pytest.raises(BuilderError, match=r"non-absolute path 'ca\.pem' provided for cacert"):
        tls(*node(cacert="ca.pem"))
    with pytest.raises(BuilderError, match="invalid driver option nope for remote driver"):
        check(node(nope="1")[0])


def test_several_nodes_route_each_platform_to_one_that_serves_it() -> None:
    served = [("linux/amd64", "linux/amd64/v2", "linux/386"), ("linux/arm64", "linux/arm/v7")]
    assert route("linux/amd64", served) == 0
    assert route("linux/arm64", served) == 1
    assert route("linux/arm/v7", served) == 1
    assert route("linux/arm/v6", served) == 1  # the os/arch, when no node lists the variant
    assert route("linux/amd64/v3", served) == 0
    assert route("linux/s390x", served) is None
    assert route("linux/386", [("linux/386",), ("linux/386",)]) == 0  # the first that serves it


def test_selection_flag_over_env_and_embedded_means_none() -> None:
    assert selected_name("a", {"BUILDX_BUILDER": "b"}) == "a"
    assert selected_name(None, {"BUILDX_BUILDER": "b"}) == "b"
    assert selected_name(None, {}) is None
    assert selected_name("embedded", {"BUILDX_BUILDER": "b"}) is None


def test_unknown_builder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BuilderError, match=r"builder 'nope': no such builder in .*instances"):
        load("nope", {"DOCKER_CONFIG": str(tmp_path)})


def test_invalid_name(tmp_path: Path) -> None:
    with pytest.raises(BuilderError, match="invalid name"):
        load("../x", {"DOCKER_CONFIG": str(tmp_path)})


@pytest.mark.parametrize("driver", ["docker-container", "kubernetes"])
def test_unsupported_drivers_are_refused(tmp_path: Path, driver: str) -> None:
    b = load("ref", _store(tmp_path, "ref", REF.replace('"remote"', f'"{driver}"')))
    with pytest.raises(BuilderError, match=f"builder 'ref': driver '{driver}' is not supported yet"):
        check(b)


def test_endpoint_schemes(tmp_path: Path) -> None:
    b = load("ref", _store(tmp_path, "ref", REF.replace("unix:///work/ref/buildkitd.sock", "ssh://host")))
    with pytest.raises(BuilderError, match="only unix:// and tcp://"):
        check(b)
