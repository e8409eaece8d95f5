"""A target's output as BuildKit's exporters take it (``bake.buildkit.exporters``)."""

from __future__ import annotations

import base64
import json

import pytest

from bake.buildkit import NotSupportedRemote
from bake.buildkit.exporters import CONFIG_ATTR, Export, exporter, response_metadata

CONFIG = b'{"architecture":"amd64","config":{"Env":["A=1"]},"os":"linux"}'


def test_files_come_back_as_a_tarball() -> None:
    assert exporter("local", "/out", {}, (), None) == Export("tar", (), "unpack", "/out")
    assert exporter("tar", "/out.tar", {}, (), None) == Export("tar", (), "file", "/out.tar")
    assert exporter("cacheonly", "", {}, (), None) is None


def test_registry_is_the_image_exporter_pushing_the_tags_with_the_config() -> None:
    e = exporter("registry", "", {"compression": "zstd"}, ("r/app:1", "r/app:latest"), CONFIG)
    assert e is not None
    attrs = dict(e.attrs)
    assert (e.type, e.receive) == ("image", "")
    assert attrs["push"] == "true"
    assert attrs["name"] == "r/app:1,r/app:latest"
    assert attrs["compression"] == "zstd"
    assert json.loads(attrs[CONFIG_ATTR]) == json.loads(CONFIG)


def test_oci_and_docker_tarballs_come_back_to_dest_and_name_wins_over_tags() -> None:
    e = exporter("docker", "/img.tar", {"name": "mine:1", "dest": "/img.tar", "multi-target": "false"}, ("t:1",), CONFIG,
                 epoch=0)
    assert e is not None
    attrs = dict(e.attrs)
    assert (e.type, e.receive, e.dest) == ("docker", "file", "/img.tar")
    assert attrs["name"] == "mine:1"
    assert attrs["source-date-epoch"] == "0"
    assert "dest" not in attrs and "multi-target" not in attrs  # bake's own, not BuildKit's


@pytest.mark.parametrize(("kind", "dest", "attrs", "tags", "what"), [
    ("oci", "/x", {"tar": "false"}, (), "tar=false"),
    ("oci", "-", {}, (), "without a file dest"),
    ("image", "", {"push": "true"}, (), "pushing needs a name"),
    ("registry", "", {}, (), "pushing needs a name"),
    ("upload", "", {}, (), "type=upload"),
])
def test_refused_before_building(kind: str, dest: str, attrs: dict[str, str], tags: tuple[str, ...], what: str) -> None:
    with pytest.raises(NotSupportedRemote, match=what):
        exporter(kind, dest, attrs, tags, CONFIG)


def test_metadata_from_the_exporter_response_as_buildx_writes_it() -> None:
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:ab", "size": 3}
    got = response_metadata({"containerimage.digest": "sha256:ab", "containerimage.config.digest": "sha256:cd",
                             "image.name": "r/app:1", "containerimage.descriptor": base64.b64encode(
                                 json.dumps(desc).encode()).decode(), "other": "x"})
    assert got == {"containerimage.digest": "sha256:ab", "containerimage.config.digest": "sha256:cd",
                   "image.name": "r/app:1", "containerimage.descriptor": desc}


def test_one_platform_of_several_is_pushed_by_digest_under_untagged_names() -> None:
    e = exporter("registry", "", {}, ("127.0.0.1:5000/app:1", "127.0.0.1:5000/app:latest", "r.io/x/y@sha256:ab"),
                 CONFIG, by_digest=True)
    assert e is not None
    attrs = dict(e.attrs)
    assert attrs["push-by-digest"] == "true"
    assert attrs["name"] == "127.0.0.1:5000/app,r.io/x/y"
    local = exporter("oci", "/x.tar", {}, ("app:1",), CONFIG, by_digest=True)
    assert local is not None and "push-by-digest" not in dict(local.attrs)
