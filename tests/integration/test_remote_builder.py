"""bake --builder NAME on a real buildkitd (buildx's remote driver).

Needs a BuildKit daemon: BAKE_TEST_BUILDKIT_HOST=unix:///path/buildkitd.sock (or tcp://host:port),
and BAKE_TEST_BUILDKIT_BASE, an image the daemon can pull (default
127.0.0.1:5000/library/busybox:latest). CI has none, so these skip there; locally:
``BAKE_TEST_BUILDKIT_HOST=unix:///work/ref/buildkitd.sock .venv/bin/python -m pytest tests/integration/test_remote_builder.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.httpfiles import served

HOST = os.environ.get("BAKE_TEST_BUILDKIT_HOST", "")
BASE = os.environ.get("BAKE_TEST_BUILDKIT_BASE", "127.0.0.1:5000/library/busybox:latest")
pytestmark = pytest.mark.skipif(not HOST, reason="no BuildKit daemon: set BAKE_TEST_BUILDKIT_HOST=unix:///…/buildkitd.sock")


def _project(tmp_path: Path, endpoint: str, output: str) -> dict[str, str]:
    inst = tmp_path / "docker" / "buildx" / "instances"
    inst.mkdir(parents=True)
    (inst / "remote1").write_text(json.dumps({"Name": "remote1", "Driver": "remote", "Nodes": [
        {"Name": "remote10", "Endpoint": endpoint, "Platforms": None, "DriverOpts": None, "Flags": None,
         "Files": None}], "Dynamic": False}))
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.txt").write_text("hello from the context\n")
    (tmp_path / "ctx" / "skip.log").write_text("ignored\n")
    (tmp_path / "ctx" / ".dockerignore").write_text("*.log\n")
    (tmp_path / "docker-bake.hcl").write_text(f'''
group "default" {{ targets = ["a", "b"] }}
target "base" {{
  context = "ctx"
  dockerfile-inline = <<EOT
FROM {BASE} AS build
RUN echo shared > /shared.txt
COPY . /ctx/
RUN ls /ctx > /listing.txt
FROM scratch
COPY --from=build /shared.txt /listing.txt /ctx/hello.txt /
EOT
}}
target "a" {{
  inherits = ["base"]
  output = ["{output.replace("NAME", "a")}"]
}}
target "b" {{
  inherits = ["base"]
  output = ["{output.replace("NAME", "b")}"]
}}
''')
    return {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker"), "BAKE_ROOT": str(tmp_path / "root")}


# Each platform's build writes its own TARGETPLATFORM to /p.txt (BUILDPLATFORM's busybox runs it).
PER_PLATFORM = f"""FROM --platform=$BUILDPLATFORM {BASE} AS b
ARG TARGETPLATFORM
RUN echo $TARGETPLATFORM > /p.txt
FROM scratch
COPY --from=b /p.txt /"""


def _bake(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bake", "--progress=plain", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_two_targets_with_a_local_context_export_locally(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=local,dest=out/NAME")
    r = _bake(tmp_path, env, "--builder", "remote1")
    assert r.returncode == 0, r.stderr
    for name in ("a", "b"):
        out = tmp_path / "out" / name
        assert (out / "shared.txt").read_text() == "shared\n"
        assert (out / "hello.txt").read_text() == "hello from the context\n"
        assert (out / "listing.txt").read_text().split() == ["hello.txt"]  # .dockerignore honoured
    assert "RUN echo shared > /shared.txt" in r.stderr
    assert "builder remote1 (remote): node remote10" in r.stderr


def test_tar_output_and_buildx_builder_env(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=tar,dest=out/NAME.tar")
    r = _bake(tmp_path, {**env, "BUILDX_BUILDER": "remote1"}, "a")
    assert r.returncode == 0, r.stderr
    import tarfile

    with tarfile.open(tmp_path / "out" / "a.tar") as tf:
        assert sorted(tf.getnames()) == ["hello.txt", "listing.txt", "shared.txt"]


def test_unreachable_node_is_an_error_before_building(tmp_path: Path) -> None:
    env = _project(tmp_path, "unix:///nonexistent/buildkitd.sock", "type=local,dest=out/NAME")
    r = _bake(tmp_path, env, "--builder", "remote1")
    assert r.returncode != 0
    assert "builder 'remote1', node 'remote10': cannot reach buildkitd at unix:///nonexistent/buildkitd.sock" in r.stderr
    assert not (tmp_path / "out").exists()


def test_refused_outputs_say_so(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=oci,dest=out/NAME,tar=false")
    r = _bake(tmp_path, env, "--builder", "remote1")
    assert r.returncode != 0
    assert "not supported yet on the remote builder: output type=oci,tar=false" in r.stderr


IMAGE = f"""
FROM {BASE}
ENV A=1 B="two words"
WORKDIR /srv
RUN echo hi > f.txt
USER 1000:1000
EXPOSE 8080/tcp
LABEL x=y
CMD ["sh", "-c", "cat f.txt"]
"""
# What bake's embedded worker writes for IMAGE (its config and this build's history), recorded
# from `bake --set app.output=type=oci,dest=embedded.tar app` and read back with skopeo.
EMBEDDED_CONFIG = {"ArgsEscaped": True, "Cmd": ["sh", "-c", "cat f.txt"],
                   "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"],
                   "ExposedPorts": {"8080/tcp": {}}, "Labels": {"org.example.t": "yes", "x": "y"}, "User": "1000:1000",
                   "WorkingDir": "/srv"}
EMBEDDED_HISTORY = [("ENV A=1 B=two words", True), ("WORKDIR /srv", False),
                    ("RUN /bin/sh -c echo hi > f.txt # buildkit", False), ("USER 1000:1000", True),
                    ("EXPOSE [8080/tcp]", True), ("LABEL x=y", True), ('CMD ["sh" "-c" "cat f.txt"]', True)]


def _image_project(tmp_path: Path, tag: str, output: str) -> dict[str, str]:
    env = _project(tmp_path, HOST, "type=cacheonly")
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "app" {{
  tags = ["{tag}"]
  labels = {{ "org.example.t" = "yes" }}
  output = ["{output}"]
  dockerfile-inline = <<EOT
{IMAGE}
EOT
}}
''')
    return env


def _skopeo(*args: str) -> str:
    """What ``skopeo inspect ARGS`` prints."""
    return subprocess.run(["skopeo", "inspect", *args], capture_output=True, text=True, check=True).stdout


def _skopeo_config(ref: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(_skopeo("--tls-verify=false", "--config", ref))
    return doc


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_image_tarballs_carry_the_embedded_workers_config(tmp_path: Path, kind: str) -> None:
    env = _image_project(tmp_path, "bake-remote/app:1", f"type={kind},dest=img.tar")
    r = _bake(tmp_path, {**env, "SOURCE_DATE_EPOCH": "0"}, "--builder", "remote1", "--metadata-file", "meta.json", "app")
    assert r.returncode == 0, r.stderr
    doc = _skopeo_config(f"{'oci' if kind == 'oci' else 'docker'}-archive:{tmp_path / 'img.tar'}")
    assert doc["config"] == EMBEDDED_CONFIG
    history = doc["history"]
    assert isinstance(history, list)
    assert [(h.get("created_by"), h.get("empty_layer", False)) for h in history][-7:] == EMBEDDED_HISTORY
    assert history[-1]["created"] == "1970-01-01T00:00:00Z"  # SOURCE_DATE_EPOCH dates this build's entries
    meta = json.loads((tmp_path / "meta.json").read_text())["app"]
    assert meta["containerimage.digest"].startswith("sha256:")
    assert meta["buildx.build.ref"].startswith("remote1/remote10/")  # builder/node/solve, as buildx writes it


def test_registry_output_pushes_with_the_config(tmp_path: Path) -> None:
    registry = BASE.split("/")[0]
    tag = f"{registry}/bake-remote-test/app:{uuid.uuid4().hex[:12]}"
    env = _image_project(tmp_path, tag, "type=registry")
    r = _bake(tmp_path, env, "--builder", "remote1", "--metadata-file", "meta.json", "app")
    assert r.returncode == 0, r.stderr
    pushed = _skopeo_config(f"docker://{tag}")
    assert pushed["config"] == EMBEDDED_CONFIG
    meta = json.loads((tmp_path / "meta.json").read_text())["app"]
    assert meta["image.name"] == tag
    # buildx's default provenance (mode=min) makes the push an index of the image and its attestation
    assert meta["containerimage.descriptor"]["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert "containerimage.config.digest" not in meta


def test_secrets_and_an_ssh_agent_through_the_session(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    (tmp_path / "tok.txt").write_text("from a file")
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "s" {{
  secret = ["id=tok,src=tok.txt", "id=envtok,env=MYTOK"]
  ssh = ["default"]
  output = ["type=local,dest=out"]
  dockerfile-inline = <<EOT
FROM {BASE} AS b
RUN --mount=type=secret,id=tok --mount=type=secret,id=envtok,env=T --mount=type=ssh \\
    sh -c 'cat /run/secrets/tok > /file.txt; echo "$T" > /env.txt; stat -c %F "$SSH_AUTH_SOCK" > /ssh.txt'
FROM scratch
COPY --from=b /file.txt /env.txt /ssh.txt /
EOT
}}
''')
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    found = dict(part.split("=", 1) for part in agent.replace(";", "\n").split() if "=" in part)
    try:
        r = _bake(tmp_path, {**env, "MYTOK": "from the environment", "SSH_AUTH_SOCK": found["SSH_AUTH_SOCK"]},
                  "--builder", "remote1", "s")
    finally:
        subprocess.run(["kill", found["SSH_AGENT_PID"]], check=False)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert (out / "file.txt").read_text() == "from a file"
    assert (out / "env.txt").read_text() == "from the environment\n"
    assert (out / "ssh.txt").read_text() == "socket\n"  # the forwarded agent, at the first ssh mount's target


HOSTS = os.environ.get("BAKE_TEST_BUILDKIT_HOSTS", "").split()
TLS_DIR = os.environ.get("BAKE_TEST_BUILDKIT_TLS", "")  # ca.pem, client.pem, client.key for the tcp:// nodes


def _tls_opts(endpoint: str) -> dict[str, str] | None:
    if not (endpoint.startswith("tcp://") and TLS_DIR):
        return None
    return {"cacert": f"{TLS_DIR}/ca.pem", "cert": f"{TLS_DIR}/client.pem", "key": f"{TLS_DIR}/client.key"}


def _two_node_builder(tmp_path: Path) -> None:
    """Builder "two": node n0 pinned to linux/amd64 on HOSTS[0], n1 to linux/386 on HOSTS[1]."""
    nodes = [{"Name": f"n{i}", "Endpoint": endpoint, "Platforms": [{"os": "linux", "architecture": arch}],
              "DriverOpts": _tls_opts(endpoint), "Flags": None, "Files": None}
             for i, (endpoint, arch) in enumerate(zip(HOSTS[:2], ("amd64", "386"), strict=True))]
    (tmp_path / "docker" / "buildx" / "instances" / "two").write_text(
        json.dumps({"Name": "two", "Driver": "remote", "Nodes": nodes, "Dynamic": False}))


@pytest.mark.skipif(len(HOSTS) < 2, reason="needs two daemons: BAKE_TEST_BUILDKIT_HOSTS='unix:///… tcp://…' "
                    "(scripts/buildkit_second_node.sh starts one)")
def test_two_nodes_each_building_the_platform_it_is_pinned_to(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    _two_node_builder(tmp_path)
    (tmp_path / "docker-bake.hcl").write_text(f'''
group "default" {{ targets = ["amd", "i386", "both"] }}
target "_base" {{
  dockerfile-inline = <<EOT
{PER_PLATFORM}
EOT
}}
target "amd" {{
  inherits = ["_base"]
  platforms = ["linux/amd64"]
  output = ["type=local,dest=out/amd"]
}}
target "i386" {{
  inherits = ["_base"]
  platforms = ["linux/386"]
  output = ["type=local,dest=out/i386"]
}}
target "both" {{
  inherits = ["_base"]
  platforms = ["linux/amd64", "linux/386"]
  output = ["type=local,dest=out/both"]
}}
''')
    r = _bake(tmp_path, env, "--builder", "two")
    assert r.returncode == 0, r.stderr
    for line in ("amd: node n0", "i386: node n1", "both (linux/amd64): node n0", "both (linux/386): node n1"):
        assert line in r.stderr
    out = tmp_path / "out"
    assert (out / "amd" / "p.txt").read_text() == "linux/amd64\n"
    assert (out / "i386" / "p.txt").read_text() == "linux/386\n"
    assert (out / "both" / "linux_amd64" / "p.txt").read_text() == "linux/amd64\n"
    assert (out / "both" / "linux_386" / "p.txt").read_text() == "linux/386\n"
    # both nodes' progress in one stream (step names show the build arg's value, as BuildKit's do)
    assert "RUN echo linux/amd64 > /p.txt" in r.stderr and "RUN echo linux/386 > /p.txt" in r.stderr


@pytest.mark.skipif(len(HOSTS) < 2, reason="needs two daemons: BAKE_TEST_BUILDKIT_HOSTS")
def test_a_platform_no_node_serves_is_an_error_before_building(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=local,dest=out/NAME")
    (tmp_path / "docker" / "buildx" / "instances" / "remote1").write_text(json.dumps({
        "Name": "remote1", "Driver": "remote", "Dynamic": False, "Nodes": [
            {"Name": "n0", "Endpoint": HOSTS[0], "Platforms": [{"os": "linux", "architecture": "amd64"}]}]}))
    r = _bake(tmp_path, env, "--builder", "remote1", "--set", "*.platform=linux/s390x")
    assert r.returncode != 0
    assert "target a: no node serves platform linux/s390x (n0: linux/amd64)" in r.stderr
    assert not (tmp_path / "out").exists()


def test_builders_lists_the_store_with_each_nodes_state(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    r = subprocess.run([sys.executable, "-m", "bake", "builders"], cwd=tmp_path, env={**env, "BUILDX_BUILDER": "remote1"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME/NODE", "DRIVER/ENDPOINT", "STATUS", "BUILDKIT", "PLATFORMS"]
    assert lines[1].split()[:3] == ["embedded", "embedded", "running"]
    assert lines[2].split() == ["remote1*", "remote"]
    node = lines[3].split()
    assert node[:5] == ["\\_", "remote10", "\\_", HOST, "running"]
    assert node[5].startswith("v")  # the daemon's BuildKit version


def _node_builder(tmp_path: Path, name: str, endpoint: str) -> None:
    (tmp_path / "docker" / "buildx" / "instances" / name).write_text(json.dumps({
        "Name": name, "Driver": "remote", "Dynamic": False,
        "Nodes": [{"Name": f"{name}0", "Endpoint": endpoint, "DriverOpts": _tls_opts(endpoint)}]}))


@pytest.mark.skipif(len(HOSTS) < 2, reason="needs a second daemon with its own cache: BAKE_TEST_BUILDKIT_HOSTS")
def test_registry_cache_exported_by_one_daemon_is_imported_by_another(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    _node_builder(tmp_path, "first", HOSTS[0])
    _node_builder(tmp_path, "second", HOSTS[1])
    registry = BASE.split("/")[0]
    cache = f"{registry}/bake-remote-test/cache:{uuid.uuid4().hex[:12]}"
    salt = uuid.uuid4().hex  # a step neither daemon has run
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "c" {{
  platforms = ["linux/amd64"]  # the second daemon's default is linux/386 (its first worker platform)
  args = {{ SALT = "{salt}" }}
  cache-to = ["type=registry,ref={cache},mode=max"]
  cache-from = ["type=registry,ref={cache}"]
  output = ["type=local,dest=out"]
  dockerfile-inline = <<EOT
FROM {BASE}
ARG SALT
RUN echo $SALT > /salt
EOT
}}
''')
    first = _bake(tmp_path, env, "--builder", "first", "c")
    assert first.returncode == 0, first.stderr
    assert "exporting cache to registry" in first.stderr
    second = _bake(tmp_path, env, "--builder", "second", "c")
    assert second.returncode == 0, second.stderr
    run = [line for line in second.stderr.splitlines() if f"RUN echo {salt} > /salt" in line]  # the arg's value
    assert run, second.stderr
    step = run[0].split()[0]  # "#3"
    assert f"{step} CACHED" in second.stderr  # from the registry: the second daemon never ran it
    assert (tmp_path / "out" / "salt").read_text() == f"{salt}\n"


def test_cache_types_the_daemon_cannot_reach_are_refused(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=local,dest=out/NAME")
    r = _bake(tmp_path, env, "--builder", "remote1", "--set", "a.cache-to=type=local,dest=cache", "a")
    assert r.returncode != 0
    assert "not supported yet on the remote builder: target a: cache-to type=local (supported: registry, inline)" in r.stderr


def test_a_pushed_image_of_two_platforms_is_one_index(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    tag = f"{BASE.split('/')[0]}/bake-remote-test/multi:{uuid.uuid4().hex[:12]}"
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "m" {{
  platforms = ["linux/amd64", "linux/386"]
  tags = ["{tag}"]
  output = ["type=registry"]
  dockerfile-inline = <<EOT
{PER_PLATFORM}
ENV WHERE=index
CMD ["/p.txt"]
EOT
}}
''')
    r = _bake(tmp_path, env, "--builder", "remote1", "--metadata-file", "meta.json", "m")
    assert r.returncode == 0, r.stderr
    raw = _skopeo("--tls-verify=false", "--raw", f"docker://{tag}")
    index = json.loads(raw)
    # each platform's image, then (buildx's default provenance) each one's attestation, as BuildKit orders them
    assert [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]] == [
        ("linux", "amd64"), ("linux", "386"), ("unknown", "unknown"), ("unknown", "unknown")]
    assert [m["annotations"]["vnd.docker.reference.digest"] for m in index["manifests"][2:]] == [
        m["digest"] for m in index["manifests"][:2]]
    for arch in ("amd64", "386"):
        doc = json.loads(_skopeo("--tls-verify=false", "--override-arch", arch, "--config", f"docker://{tag}"))
        assert doc["architecture"] == arch
        assert doc["config"]["Cmd"] == ["/p.txt"] and "WHERE=index" in doc["config"]["Env"]
    meta = json.loads((tmp_path / "meta.json").read_text())["m"]
    assert meta["image.name"] == tag
    import hashlib

    assert meta["containerimage.digest"] == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


@pytest.mark.skipif(len(HOSTS) < 2, reason="needs two daemons: BAKE_TEST_BUILDKIT_HOSTS")
def test_a_multi_platform_image_built_on_two_nodes_is_pushed_as_one_index(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    _two_node_builder(tmp_path)
    tag = f"{BASE.split('/')[0]}/bake-remote-test/two-node:{uuid.uuid4().hex[:12]}"
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "m" {{
  platforms = ["linux/amd64", "linux/386"]
  tags = ["{tag}"]
  output = ["type=registry"]
  dockerfile-inline = <<EOT
{PER_PLATFORM}
EOT
}}
''')
    r = _bake(tmp_path, env, "--builder", "two", "m")
    assert r.returncode == 0, r.stderr
    assert "m (linux/amd64): node n0" in r.stderr and "m (linux/386): node n1" in r.stderr
    index = json.loads(_skopeo("--tls-verify=false", "--raw", f"docker://{tag}"))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "386", "unknown", "unknown"]


def test_url_and_git_sources_are_fetched_by_the_daemon(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.txt").write_text("downloaded\n")
    work = tmp_path / "w"
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "a.txt").write_text("from git\n")
    subprocess.run([*git, "-C", str(work), "add", "a.txt"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "one"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(srv / "repo.git")], check=True)
    subprocess.run(["git", "-C", str(srv / "repo.git"), "update-server-info"], check=True)  # dumb HTTP
    with served(srv) as url:  # the daemon shares the host network: it reaches 127.0.0.1 too
        (tmp_path / "docker-bake.hcl").write_text(f'''
target "g" {{
  output = ["type=local,dest=out"]
  dockerfile-inline = <<EOT
FROM scratch
ADD {url}/f.txt /f.txt
ADD {url}/f.txt /dir/
ADD {url}/repo.git#main /src
EOT
}}
''')
        r = _bake(tmp_path, env, "--builder", "remote1", "g")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert (out / "f.txt").read_text() == "downloaded\n"
    assert (out / "dir" / "f.txt").read_text() == "downloaded\n"
    assert (out / "src" / "a.txt").read_text() == "from git\n"


def test_a_cache_mount_gets_its_owner_and_mode(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "c" {{
  args = {{ SALT = "{uuid.uuid4().hex}" }}
  output = ["type=local,dest=out"]
  dockerfile-inline = <<EOT
FROM {BASE} AS b
ARG SALT
RUN --mount=type=cache,id={uuid.uuid4().hex},target=/c,uid=1000,gid=1001,mode=0710 stat -c "%u %g %a" /c > /perm
FROM scratch
COPY --from=b /perm /
EOT
}}
''')
    r = _bake(tmp_path, env, "--builder", "remote1", "c")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "perm").read_text() == "1000 1001 710\n"


def test_a_failing_step_is_reported_as_on_the_embedded_worker_and_its_sibling_still_exports(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    (tmp_path / "docker-bake.hcl").write_text(f'''
group "default" {{ targets = ["ok", "bad"] }}
target "ok" {{
  output = ["type=local,dest=out/ok"]
  dockerfile-inline = <<EOT
FROM {BASE}
RUN sleep 1 && echo fine > /f
EOT
}}
target "bad" {{
  args = {{ SALT = "{uuid.uuid4().hex}" }}
  dockerfile-inline = <<EOT
FROM {BASE}
ARG SALT
RUN echo about to fail && exit 3
EOT
}}
''')
    r = _bake(tmp_path, env, "--builder", "remote1", "--keep-going")
    assert r.returncode != 0
    import re

    # the step's label is numbered as BuildKit numbers it; its output and Dockerfile line follow
    assert re.search(r" > \[[^]]*\] RUN echo about to fail && exit 3:\nabout to fail\n------\nDockerfile:3\n", r.stderr)
    assert "ERROR: target bad: failed to solve: process" in r.stderr and "exit code: 3" in r.stderr
    assert (tmp_path / "out" / "ok" / "f").read_text() == "fine\n"  # not cancelled by its sibling's failure


def test_several_outputs_of_one_target_from_one_solve(tmp_path: Path) -> None:
    env = _image_project(tmp_path, "bake-remote/app:1", "type=cacheonly")
    r = _bake(tmp_path, env, "--builder", "remote1", "--set", "app.output=type=oci,dest=img.tar",
              "--set", "app.output+=type=local,dest=fs", "app")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fs" / "srv" / "f.txt").read_text() == "hi\n"
    assert _skopeo_config(f"oci-archive:{tmp_path / 'img.tar'}")["config"] == EMBEDDED_CONFIG
    assert "app: exported type=oci to img.tar" in r.stderr and "app: exported type=local to fs" in r.stderr


def test_copy_parents_keeps_the_paths_as_on_the_embedded_worker(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    for rel, text in (("a/b/one.txt", "1"), ("c/two.txt", "2"), ("a/three.md", "3")):
        (tmp_path / "ctx" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ctx" / rel).write_text(text)
    (tmp_path / "docker-bake.hcl").write_text('''
target "p" {
  context = "ctx"
  output = ["type=local,dest=out"]
  dockerfile-inline = <<EOT
FROM scratch
COPY --parents a/b/one.txt c/*.txt /x/
COPY --parents ./a/./b/one.txt /y/
COPY --parents **/*.md /z/
EOT
}
''')
    r = _bake(tmp_path, env, "--builder", "remote1", "p")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    # what bake's embedded worker writes for the same file (checked by hand, same tree)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "x/a/b/one.txt", "x/c/two.txt", "y/b/one.txt", "z/a/three.md"]


def test_publish_after_all_exports_nothing_when_a_target_fails(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "a" {{
  output = ["type=local,dest=out/a"]
  dockerfile-inline = "FROM {BASE}\\nRUN echo built > /a.txt\\n"
}}
target "b" {{
  output = ["type=local,dest=out/b"]
  args = {{ SALT = "{uuid.uuid4().hex}" }}
  dockerfile-inline = "FROM {BASE}\\nARG SALT\\nRUN exit 1\\n"
}}
''')
    r = _bake(tmp_path, env, "--builder", "remote1", "--publish", "after-all", "--keep-going", "a", "b")
    assert r.returncode != 0
    assert "publish after-all: a target failed, nothing exported" in r.stderr
    assert not (tmp_path / "out").exists()  # not even a's, which built
    ok = _bake(tmp_path, env, "--builder", "remote1", "--publish", "after-all", "a")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "a" / "a.txt").read_text() == "built\n"


def test_tarballs_of_two_platforms_are_one_file_each(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "m" {{
  platforms = ["linux/amd64", "linux/386"]
  tags = ["bake-remote/multi:1"]
  output = ["type=oci,dest=img.tar", "type=tar,dest=fs.tar"]
  dockerfile-inline = <<EOT
{PER_PLATFORM}
CMD ["/p.txt"]
EOT
}}
''')
    r = _bake(tmp_path, env, "--builder", "remote1", "m")
    assert r.returncode == 0, r.stderr
    import tarfile

    with tarfile.open(tmp_path / "fs.tar") as tf:
        got = {m.name: tf.extractfile(m).read() for m in tf if m.isreg()}  # type: ignore[union-attr]
    assert got == {"linux_amd64/p.txt": b"linux/amd64\n", "linux_386/p.txt": b"linux/386\n"}
    for arch in ("amd64", "386"):
        doc = json.loads(_skopeo("--override-arch", arch, "--config", f"oci-archive:{tmp_path / 'img.tar'}"))
        assert doc["architecture"] == arch and doc["config"]["Cmd"] == ["/p.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_provenance_is_attached_by_the_daemon(tmp_path: Path) -> None:
    tag = f"{BASE.split('/')[0]}/bake-remote-test/prov:{uuid.uuid4().hex[:12]}"
    env = _image_project(tmp_path, tag, "type=registry")
    r = _bake(tmp_path, env, "--builder", "remote1", "--set", "app.attest=type=provenance,mode=min", "app")
    assert r.returncode == 0, r.stderr
    index = json.loads(_skopeo("--tls-verify=false", "--raw", f"docker://{tag}"))
    kinds = [m.get("annotations", {}).get("vnd.docker.reference.type", "image") for m in index["manifests"]]
    assert kinds == ["image", "attestation-manifest"]
