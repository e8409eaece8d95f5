"""The Docker Engine API client over httpx's mock transport: what each call sends, and how the
engine's answers (including errors inside a 200 message stream) reach the caller."""

from __future__ import annotations

import json

import httpx
import pytest

from bake.docker import DockerError
from bake.docker.client import DockerClient, transport
from bake.docker.context import Engine

ENGINE = Engine("unix:///run/test.sock")


class Recorder:
    """A fake engine that records requests and answers from a table."""

    def __init__(self, answers: dict[tuple[str, str], httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answers.get((request.method, request.url.path), httpx.Response(404, json={"message": "no"}))


def test_load_streams_the_tarball_and_returns_the_engine_lines() -> None:
    lines = [{"stream": "Loaded image: app:1\n"}, {"stream": "Loaded image: app:latest\n"}]
    fake = Recorder({("POST", "/images/load"): httpx.Response(200, text="\n".join(json.dumps(x) for x in lines))})
    with DockerClient(ENGINE, httpx.MockTransport(fake)) as docker:
        assert docker.load(iter([b"part1", b"part2"])) == ["Loaded image: app:1", "Loaded image: app:latest"]
    (req,) = fake.requests
    assert req.content == b"part1part2"
    assert req.headers["Content-Type"] == "application/x-tar"
    assert req.url.params["quiet"] == "1"


def test_an_error_inside_the_load_stream_is_a_docker_error() -> None:
    body = json.dumps({"errorDetail": {"message": "unexpected EOF"}, "error": "unexpected EOF"})
    fake = Recorder({("POST", "/images/load"): httpx.Response(200, text=body)})
    with DockerClient(ENGINE, httpx.MockTransport(fake)) as docker, \
            pytest.raises(DockerError, match=r"docker engine at unix:///run/test\.sock: loading the image: unexpected EOF"):
        docker.load(iter([b"x"]))


def test_a_refused_request_names_status_and_message() -> None:
    fake = Recorder({("POST", "/images/load"): httpx.Response(500, json={"message": "disk full"})})
    with DockerClient(ENGINE, httpx.MockTransport(fake)) as docker, pytest.raises(DockerError, match="500 disk full") as got:
        docker.load(iter([b"x"]))
    assert got.value.status == 500


def test_images_filters_by_reference_and_inspect_of_an_absent_image_is_none() -> None:
    fake = Recorder({("GET", "/images/json"): httpx.Response(200, json=[{"RepoTags": ["app:1"]}]),
                     ("GET", "/_ping"): httpx.Response(200, text="OK", headers={"API-Version": "1.41"})})
    with DockerClient(ENGINE, httpx.MockTransport(fake)) as docker:
        assert docker.images("app:1") == [{"RepoTags": ["app:1"]}]
        assert docker.inspect("nope:1") is None
        assert docker.ping() == "1.41"
    assert json.loads(fake.requests[0].url.params["filters"]) == {"reference": ["app:1"]}
    assert fake.requests[1].url.path == "/images/nope:1/json"


def test_an_unreachable_engine_is_a_docker_error(tmp_path: object) -> None:
    with pytest.raises(DockerError, match=r"cannot reach the engine: no socket at .*absent\.sock"):
        DockerClient(Engine(f"unix://{tmp_path}/absent.sock"))


def test_endpoints_become_base_urls_and_ssh_is_refused(tmp_path: object) -> None:
    assert transport(Engine("tcp://10.0.0.1:2375"))[0] == "http://10.0.0.1:2375"
    with open(f"{tmp_path}/docker.sock", "w"):
        pass
    assert transport(Engine(f"unix://{tmp_path}/docker.sock"))[0] == "http://docker"
    with pytest.raises(DockerError, match="unsupported endpoint scheme 'ssh'"):
        transport(Engine("ssh://user@host"))
