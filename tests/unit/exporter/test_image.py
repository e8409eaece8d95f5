"""exporter/image.py is pure: for a fixed input, the config and manifest documents are fixed bytes.

Every config field is set once, so a change to a key's order, spelling or presence shows up here
(BuildKit's key order for a real build is pinned by tests/unit/dockerfile/test_buildkit_golden.py).
"""

from __future__ import annotations

import hashlib

import pytest

from bake._record import replace
from bake.content import oci
from bake.content.imageconfig import History, ImageConfig
from bake.exporter.image import align_history, config_document, manifest_document, timestamp

A, B, C = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
DIFF_IDS = ("sha256:" + "1" * 64, "sha256:" + "2" * 64)
CONFIG = ImageConfig(
    env=("PATH=/usr/bin:/bin", "APP=1"), workdir="/srv", user="app", labels=(("org.example.tier", "base"), ("a", "1")),
    exposed_ports=("8080/tcp", "53/udp"), volumes=("/var/lib/app", "/data"), entrypoint=("/bin/app",),
    cmd=("--serve",), healthcheck=(("Test", ("CMD", "true")), ("Interval", 30000000000)), stop_signal="SIGTERM",
    shell=("/bin/sh", "-c"), onbuild=("RUN echo child",), args_escaped=True,
    history=(History("/bin/sh -c #(nop) ADD file:abc in /", False, "", "2024-01-02T03:04:05Z", ""),  # the base's
             History("ENV APP=1", True),  # this build's: stamped when exported
             History("RUN /bin/sh -c make", False, author="someone")))
PLATFORM = oci.Platform("linux", "arm", "v7")
LAYERS = (oci.Descriptor(oci.LAYER_GZIP, A, 1234), oci.Descriptor(oci.DOCKER_LAYER_TAR, B, 10240))
WHEN = "2023-11-14T22:13:20.500000Z"

CONFIG_BYTES = (
    '{"architecture":"arm",'
    '"bake.cache.v1":{"keys":{"' + C + '":[0,1]}},'
    '"config":{"User":"app","ExposedPorts":{"53/udp":{},"8080/tcp":{}},"Env":["PATH=/usr/bin:/bin","APP=1"],'
    '"Entrypoint":["/bin/app"],"Cmd":["--serve"],"Volumes":{"/data":{},"/var/lib/app":{}},"WorkingDir":"/srv",'
    '"Labels":{"a":"1","org.example.tier":"app"},"StopSignal":"SIGTERM","ArgsEscaped":true,'
    '"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},"OnBuild":["RUN echo child"],'
    '"Shell":["/bin/sh","-c"]},'
    '"created":"' + WHEN + '",'
    '"history":[{"created":"2024-01-02T03:04:05Z","created_by":"/bin/sh -c #(nop) ADD file:abc in /"},'
    '{"created":"' + WHEN + '","created_by":"ENV APP=1","comment":"buildkit.dockerfile.v0","empty_layer":true},'
    '{"created":"' + WHEN + '","author":"someone","created_by":"RUN /bin/sh -c make",'
    '"comment":"buildkit.dockerfile.v0"}],'
    '"os":"linux",'
    '"rootfs":{"type":"layers","diff_ids":["' + DIFF_IDS[0] + '","' + DIFF_IDS[1] + '"]},'
    '"variant":"v7"}'
).encode()
CONFIG_DIGEST = "sha256:ad0360de8f6b7c1ac96b9792ad65ba56bfac7033ccbe7f6c952be11f5de63369"

MANIFEST_BYTES = (  # indented as Go's MarshalIndent writes it, as BuildKit v0.32.2 does
    '{\n'
    '  "schemaVersion": 2,\n'
    '  "mediaType": "application/vnd.oci.image.manifest.v1+json",\n'
    '  "config": {\n'
    '    "mediaType": "application/vnd.oci.image.config.v1+json",\n'
    '    "digest": "' + CONFIG_DIGEST + '",\n'
    '    "size": 1145\n'
    '  },\n'
    '  "layers": [\n'
    '    {\n'
    '      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",\n'
    '      "digest": "' + A + '",\n'
    '      "size": 1234\n'
    '    },\n'
    '    {\n'
    '      "mediaType": "application/vnd.oci.image.layer.v1.tar",\n'
    '      "digest": "' + B + '",\n'
    '      "size": 10240\n'
    '    }\n'
    '  ],\n'
    '  "annotations": {\n'
    '    "org.opencontainers.image.created": "2023-11-14T22:13:20.5Z"\n'
    '  }\n'
    '}'
).encode()
MANIFEST_DIGEST = "sha256:e00e349879f295e581fac176d16dec5c03d549d3594324b753ad4ae65901989e"

DOCKER_CONFIG_DIGEST = "sha256:5c11fdd47e8a2601e975bc527a231f29f8a872de7bf82ef028a625bf4384ffaf"
DOCKER_MANIFEST_BYTES = (  # indented as Go's MarshalIndent writes it, as BuildKit v0.32.2 does
    '{\n'
    '  "schemaVersion": 2,\n'
    '  "mediaType": "application/vnd.docker.distribution.manifest.v2+json",\n'
    '  "config": {\n'
    '    "mediaType": "application/vnd.docker.container.image.v1+json",\n'
    '    "digest": "' + DOCKER_CONFIG_DIGEST + '",\n'
    '    "size": 1018\n'
    '  },\n'
    '  "layers": [\n'
    '    {\n'
    '      "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",\n'
    '      "digest": "' + A + '",\n'
    '      "size": 1234\n'
    '    },\n'
    '    {\n'
    '      "mediaType": "application/vnd.docker.image.rootfs.diff.tar",\n'
    '      "digest": "' + B + '",\n'
    '      "size": 10240\n'
    '    }\n'
    '  ]\n'
    '}'
).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_config_document_is_pinned_bytes() -> None:
    doc = config_document(CONFIG, PLATFORM, DIFF_IDS, 1700000000.5, labels={"org.example.tier": "app"},
                          inline_cache={C: (0, 1)})
    assert doc.media_type == oci.CONFIG
    assert doc.raw == CONFIG_BYTES
    assert doc.descriptor() == oci.Descriptor(oci.CONFIG, CONFIG_DIGEST, 1145) and sha256(CONFIG_BYTES) == CONFIG_DIGEST


def test_the_manifest_document_is_pinned_bytes() -> None:
    config = config_document(CONFIG, PLATFORM, DIFF_IDS, 1700000000.5, labels={"org.example.tier": "app"},
                             inline_cache={C: (0, 1)})
    doc = manifest_document(config, LAYERS, {"org.opencontainers.image.created": "2023-11-14T22:13:20.5Z"})
    assert doc.raw == MANIFEST_BYTES  # a Docker-typed layer is OCI-typed here: the bytes are the same
    assert doc.descriptor() == oci.Descriptor(oci.MANIFEST, MANIFEST_DIGEST, 752) and sha256(MANIFEST_BYTES) == MANIFEST_DIGEST


def test_docker_media_types() -> None:
    config = config_document(CONFIG, PLATFORM, DIFF_IDS, 1700000000, docker=True)
    assert config.descriptor() == oci.Descriptor(oci.DOCKER_CONFIG, DOCKER_CONFIG_DIGEST, 1018)
    assert b'"created":"2023-11-14T22:13:20Z"' in config.raw and b"bake.cache.v1" not in config.raw
    doc = manifest_document(config, LAYERS, {"ignored": "docker manifests have no annotations"}, docker=True)
    assert doc.raw == DOCKER_MANIFEST_BYTES
    with pytest.raises(ValueError, match="need OCI media types"):
        manifest_document(config, (oci.Descriptor(oci.LAYER_ZSTD, A, 1),), docker=True)


def test_equal_inputs_equal_bytes_and_the_defaults() -> None:
    empty = config_document(ImageConfig(), oci.Platform("linux", "amd64"), (), 0)
    assert empty.raw == (b'{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:'
                         b'/usr/bin:/sbin:/bin"]},"created":"1970-01-01T00:00:00Z","history":[],"os":"linux",'
                         b'"rootfs":{"type":"layers","diff_ids":null}}')  # Go's nil slice, as BuildKit writes it
    assert config_document(ImageConfig(), oci.Platform("linux", "amd64"), (), 0).raw == empty.raw
    assert timestamp(1.25) == "1970-01-01T00:00:01.250000Z"


def test_history_is_aligned_with_the_layers() -> None:
    base = ImageConfig(history=(History("ENV A=1", True), History("RUN a", False), History("RUN b", False)))
    assert align_history(base, 2) == base
    # BuildKit v0.32.2's exporter: entries for the missing layers go at the end, named after the
    # layers at those positions (here unknown: a base without history)
    grown = align_history(base, 4)
    assert grown.history[:3] == base.history
    assert [(h.created_by, h.empty_layer, h.comment) for h in grown.history[3:]] == [
        ("", False, "buildkit.exporter.image.v0"), ("", False, "buildkit.exporter.image.v0")]
    # a directory as the base (recorded: FROM x with contexts = { x = "./dir" }): the step that made
    # the top layer names the entry, as BuildKit counts from the bottom
    on_dir = ImageConfig(unrecorded=("local source for x",),
                         history=(History("COPY a /a # buildkit", False, step="[1/2] COPY a /a"),))
    assert [(h.created_by, h.comment) for h in align_history(on_dir, 2).history] == [
        ("COPY a /a # buildkit", "buildkit.dockerfile.v0"), ("[1/2] COPY a /a", "buildkit.exporter.image.v0")]
    assert align_history(replace(on_dir, history=()), 1).history[0].created_by == "local source for x"
    shrunk = align_history(base, 1)  # the last step that made no snapshot becomes empty
    assert [(h.created_by, h.empty_layer) for h in shrunk.history] == [("ENV A=1", True), ("RUN a", False),
                                                                       ("RUN b", True)]
