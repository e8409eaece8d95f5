"""Image outputs checked by independent tools: skopeo reads our OCI and docker tarballs and pushed
images, umoci unpacks them, runc runs the unpacked image's CMD."""

from __future__ import annotations

import gzip
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from bake.progress.events import Event, Logged
from tests.integration.test_build import project, run


def skopeo(*args: str) -> dict:
    out = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.root
def test_one_image_as_oci_and_docker_tarballs_and_pushed(busybox_image: str, registry: str, tmp_path: Path) -> None:
    tag = f"{registry}/out/app:1"
    d = project(tmp_path, f'target "app" {{\n  tags = ["{tag}"]\n  labels = {{ "org.example.team" = "build" }}\n'
                '  output = ["type=oci,dest=app.tar", "type=docker,dest=app-docker.tar", "type=registry"]\n}\n',
                f"FROM {busybox_image}\nWORKDIR /srv\nCOPY greeting.txt .\nRUN echo built > built.txt\n"
                'ENV MODE=prod\nCMD ["cat", "/srv/greeting.txt", "/srv/built.txt"]\n', {"greeting.txt": "hello\n"})
    run(d, tmp_path / "root", "app")
    oci = skopeo("inspect", f"oci-archive:{d}/app.tar")
    pushed = skopeo("inspect", "--tls-verify=false", f"docker://{tag}")
    docker = skopeo("inspect", f"docker-archive:{d}/app-docker.tar")
    # the same image bytes, exported and pushed; the push is an index that adds buildx's default
    # provenance beside it, which a one-platform OCI tarball leaves out (as BuildKit does)
    index = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{tag}")
    assert [m["digest"] for m in index["manifests"]][:1] == [oci["Digest"]] != [pushed["Digest"]]
    assert index["manifests"][1]["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    assert oci["Labels"] == {"org.example.team": "build"} and "MODE=prod" in oci["Env"]
    assert len(oci["Layers"]) == len(docker["Layers"]) == 4  # busybox, WORKDIR, COPY, RUN
    config = skopeo("inspect", "--config", f"oci-archive:{d}/app.tar")
    assert config["config"]["Cmd"] == ["cat", "/srv/greeting.txt", "/srv/built.txt"]
    assert config["config"]["WorkingDir"] == "/srv"
    history = [h for h in config["history"] if not h.get("empty_layer")]
    assert len(history) == len(config["rootfs"]["diff_ids"]) == 4
    assert history[-1]["created_by"].startswith("RUN /bin/sh -c echo built > built.txt")
    with tarfile.open(d / "app-docker.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [tag]

    # umoci unpacks it and runc runs its CMD
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(d / "app.tar") as tar:
        tar.extractall(layout, filter="tar")
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", str(bundle)], check=True, capture_output=True)
    assert (bundle / "rootfs/srv/greeting.txt").read_text() == "hello\n"
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    ran = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run", "-b", str(bundle), "bake-image-test"],
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello\nbuilt\n"


def test_several_platforms_make_an_index(registry: str, tmp_path: Path) -> None:
    tag = f"{registry}/out/multi:1"
    d = project(tmp_path, f'target "default" {{\n  platforms = ["linux/amd64", "linux/arm64"]\n  tags = ["{tag}"]\n'
                '  output = ["type=oci,dest=multi.tar", "type=registry"]\n}\n',
                "FROM scratch\nARG TARGETARCH\nCOPY <<EOF /arch\n${TARGETARCH}\nEOF\n")
    run(d, tmp_path / "root")
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{d}/multi.tar"], capture_output=True,
                         text=True, check=True).stdout
    index = json.loads(raw)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    # each platform's image, then buildx's default provenance of each (an index carries it, as BuildKit's)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64", "unknown", "unknown"]
    for arch in ("amd64", "arm64"):
        got = skopeo("inspect", "--tls-verify=false", "--override-arch", arch, f"docker://{tag}")
        assert got["Architecture"] == arch
    dest = tmp_path / "arm64"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--override-arch", "arm64", f"docker://{tag}",
                    f"dir:{dest}"], check=True, capture_output=True)
    manifest = json.loads((dest / "manifest.json").read_text())
    layer = (dest / manifest["layers"][0]["digest"].partition(":")[2]).read_bytes()
    with tarfile.open(fileobj=__import__("io").BytesIO(gzip.decompress(layer))) as tar:
        assert tar.extractfile("arch").read() == b"arm64\n"  # type: ignore[union-attr]


def test_source_date_epoch_makes_clean_builds_identical(busybox_image: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    d = project(tmp_path, 'target "default" {\n  output = ["type=oci,dest=out.tar,rewrite-timestamp=true"]\n}\n',
                f"FROM {busybox_image}\nCOPY app.txt /\nRUN echo run > /run.txt && mkdir -p /var/data\n", {"app.txt": "x"})
    digests = []
    for n in (1, 2):
        run(d, tmp_path / f"root{n}")
        digests.append(skopeo("inspect", f"oci-archive:{d}/out.tar")["Digest"])
        config = skopeo("inspect", "--config", f"oci-archive:{d}/out.tar")
        assert config["created"] == "2023-11-14T22:13:20Z"
    assert digests[0] == digests[1]


def test_a_secret_appears_in_no_layer_config_history_or_log(busybox_image: str, tmp_path: Path) -> None:
    secret = "sup3r-s3cret-t0ken-value"
    d = project(tmp_path, 'target "default" {\n  secret = ["id=token,src=token.txt"]\n'
                '  output = ["type=oci,dest=out.tar,tar=false"]\n}\n',
                f"FROM {busybox_image}\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token > /size "
                "&& (echo tampered >> /run/secrets/token 2>/dev/null || echo read-only > /tamper)\n"
                "RUN --mount=type=secret,id=token,env=TOKEN test -n \"$TOKEN\" && echo ok > /env-ok\n",
                {"token.txt": secret})
    events: list[Event] = []
    run(d, tmp_path / "root", events=events, metadata_file=str(tmp_path / "meta.json"))
    layout = d / "out.tar"
    found = []
    for blob in (layout / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        if secret.encode() in data:
            found.append(blob.name)
    logs = b"".join(e.data for e in events if isinstance(e, Logged))
    assert found == [] and secret.encode() not in logs
    assert not any(b"secrets" in name.encode() for name in _layer_names(layout))  # no mount-point stub either
    assert secret not in (tmp_path / "meta.json").read_text()
    assert secret not in (layout / "index.json").read_text()


def _layer_names(layout: Path) -> list[str]:
    names = []
    for blob in (layout / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            with tarfile.open(fileobj=__import__("io").BytesIO(gzip.decompress(data))) as tar:
                names += tar.getnames()
    return names


def test_publish_after_all_writes_nothing_when_a_target_failed(busybox_image: str, registry: str,
                                                               tmp_path: Path) -> None:
    from bake.errors import StepError

    hcl = (f'group "default" {{\n  targets = ["bad", "good"]\n}}\ntarget "bad" {{\n  target = "bad"\n}}\n'
           f'target "good" {{\n  target = "good"\n  tags = ["{registry}/out/good:1"]\n'
           '  output = ["type=oci,dest=good.tar", "type=registry", "type=local,dest=good-dir"]\n}\n')
    d = project(tmp_path, hcl, f"FROM {busybox_image} AS bad\nRUN exit 1\nFROM {busybox_image} AS good\nRUN true\n")
    meta = tmp_path / "meta.json"
    with pytest.raises(StepError):
        run(d, tmp_path / "root", keep_going=True, publish="after-all", metadata_file=str(meta))
    assert not (d / "good.tar").exists() and not (d / "good-dir").exists()
    missing = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{registry}/out/good:1"],
                             capture_output=True, text=True)
    assert missing.returncode != 0
    # the same build publishing each target as it succeeds
    with pytest.raises(StepError):
        run(d, tmp_path / "root", keep_going=True, metadata_file=str(meta))
    assert (d / "good.tar").exists()
    good = json.loads(meta.read_text())["good"]
    assert good["image.name"] == f"{registry}/out/good:1"
    # as buildx's: the digest of the pushed index (the image and buildx's default provenance)
    assert good["containerimage.digest"] == skopeo("inspect", "--tls-verify=false",
                                                   f"docker://{registry}/out/good:1")["Digest"]
    assert good["containerimage.config.digest"].startswith("sha256:")


def test_several_targets_share_one_layout_and_one_pushed_name(registry: str, tmp_path: Path) -> None:
    name = f"{registry}/out/merged:1"
    hcl = (f'group "default" {{\n  targets = ["amd", "arm"]\n}}\n'
           f'target "amd" {{\n  platforms = ["linux/amd64"]\n  tags = ["{name}", "{registry}/out/amd:1"]\n'
           '  output = ["type=oci,dest=all.tar,multi-target=true", "type=registry"]\n}\n'
           f'target "arm" {{\n  platforms = ["linux/arm64"]\n  tags = ["{name}", "{registry}/out/arm:1"]\n'
           '  output = ["type=oci,dest=all.tar,multi-target=true", "type=registry"]\n}\n')
    d = project(tmp_path, hcl, "FROM scratch\nARG TARGETARCH\nCOPY <<EOF /arch\n${TARGETARCH}\nEOF\n")
    run(d, tmp_path / "root")
    for n, arch in (("out/amd:1", "amd64"), ("out/arm:1", "arm64")):
        got = skopeo("inspect", f"oci-archive:{d}/all.tar:{registry}/{n}")
        assert got["Architecture"] == arch
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
                         capture_output=True, text=True, check=True).stdout
    merged = json.loads(raw)  # one index of both targets' platforms under the shared name
    assert [m["platform"]["architecture"] for m in merged["manifests"]] == ["amd64", "arm64", "unknown", "unknown"]


def test_docker_tarballs_use_oci_media_types_unless_asked(tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {\n  tags = ["example/app:1"]\n'
                '  output = ["type=docker,dest=d.tar,name-canonical=true,oci-mediatypes=false", "type=docker,dest=o.tar"]\n}\n',
                "FROM scratch\nCOPY <<EOF /hi\nhi\nEOF\n")
    run(d, tmp_path / "root")
    kinds = {}
    for name in ("d.tar", "o.tar"):
        with tarfile.open(d / name) as tar:
            index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        kinds[name] = index["manifests"][0]["mediaType"]
    assert kinds == {"d.tar": "application/vnd.docker.distribution.manifest.v2+json",
                     "o.tar": "application/vnd.oci.image.manifest.v1+json"}
    assert skopeo("inspect", f"docker-archive:{d}/d.tar")["Layers"]
    with tarfile.open(d / "d.tar") as tar:
        tags = json.load(tar.extractfile("manifest.json"))[0]["RepoTags"]  # type: ignore[arg-type]
    assert tags == ["example/app:1"]  # name-canonical's docker.io/library/… is the same name to Docker


def test_an_image_in_bake_s_store_is_a_base_for_later_builds(busybox_image: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = project(tmp_path / "a", 'target "default" {\n  tags = ["local/base:1"]\n  output = ["type=image"]\n}\n',
                    f"FROM {busybox_image}\nRUN echo from-the-store > /base\nENV FROM_BASE=yes\n")
    root = tmp_path / "root"
    run(first, root)
    second = project(tmp_path / "b", 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                     'FROM local/base:1\nRUN cat /base > /seen && echo "$FROM_BASE" >> /seen\n')
    run(second, root)  # docker.io/local/base is nowhere but in bake's image store (and no network here)
    assert (second / "out/seen").read_text() == "from-the-store\nyes\n"


def test_registry_insecure_pushes_over_plain_http(registry: str, tmp_path: Path) -> None:
    """``0.0.0.0:PORT`` reaches the loopback registry but is not a loopback name, so only
    ``registry.insecure=true`` lets a push use plain HTTP there."""
    from bake.errors import BakeError

    port = registry.rsplit(":", 1)[1]
    name = f"0.0.0.0:{port}/insecure/app:1"
    dockerfile = "FROM scratch\nCOPY <<EOF /hi\nhi\nEOF\n"
    d = project(tmp_path, f'target "default" {{\n  tags = ["{name}"]\n  output = ["type=registry"]\n}}\n', dockerfile)
    with pytest.raises(BakeError):
        run(d, tmp_path / "root")  # https to a plain-HTTP registry
    d = project(tmp_path, f'target "default" {{\n  tags = ["{name}"]\n'
                '  output = ["type=registry,registry.insecure=true"]\n}\n', dockerfile)
    run(d, tmp_path / "root")
    assert skopeo("inspect", "--tls-verify=false", f"docker://{registry}/insecure/app:1")["Layers"]


def test_image_exports_name_where_they_go(busybox_image: str, tmp_path: Path) -> None:
    from bake.progress.events import Started

    d = project(tmp_path, 'target "default" {\n  output = ["type=oci,dest=out/x.tar", "type=docker,dest=out/d,tar=false"]\n}\n',
                f"FROM {busybox_image}\nRUN echo hi > /hi\n")
    events: list[Event] = []
    run(d, tmp_path / "root", events=events)
    names = [e.step.name for e in events if isinstance(e, Started) and e.step.name.startswith("exporting")]
    assert names == ["exporting to oci image format tarball out/x.tar, docker image format layout directory out/d"]


def test_one_image_under_two_tags_is_fetched_once(busybox_image: str, registry: str, tmp_path: Path) -> None:
    other = f"{registry}/library/busybox:twin"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                    f"docker://{busybox_image}:latest", f"docker://{other}"], check=True, capture_output=True)
    d = project(tmp_path, 'target "default" {}\n',
                f"FROM {busybox_image}:latest AS a\nRUN echo a > /a\nFROM {other}\nCOPY --from=a /a /a\n")
    events: list[Event] = []
    run(d, tmp_path / "root", events=events)
    lines = b"".join(e.data for e in events if isinstance(e, Logged)).decode().splitlines()
    assert sum(line.endswith(" fetched") for line in lines) == 1  # the one layer: once, the other pull waits
    others = (" in the store", " shared with another pull", " unpacked before")  # as far as the first pull got
    assert sum(line.endswith(others) for line in lines) == 1
