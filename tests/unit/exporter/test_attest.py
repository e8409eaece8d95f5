"""Provenance attestations as buildx v0.36.1 asks for them and BuildKit v0.32.2 writes them, checked
against what the reference wrote (tests/fixtures/buildkit/attest/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest

from bake.content import oci
from bake.content.imageconfig import ImageConfig
from bake.content.store import ContentStore
from bake.errors import UsageError
from bake.exporter import attest
from bake.exporter.attest import BuildFacts, ProvenanceSpec, check_outputs, provenance_spec
from bake.exporter.images import Built, assemble
from bake.graph.ops import ExecOp, Mount, SourceOp, Vertex
from bake.hcl.bakefile.buildflags import parse_attest
from bake.model import OutputSpec, SecretEntry, Target
from tests.unit.exporter.test_images import CountingLayers

FIXTURES = Path(__file__).parents[2] / "fixtures/buildkit/attest"
BEHAVIOUR = json.loads((FIXTURES / "behaviour.json").read_text())["cases"]


def recorded(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((FIXTURES / name).read_text()))


def spec(*attests: str, env: dict[str, str] | None = None) -> ProvenanceSpec | None:
    return provenance_spec("app", [parse_attest(a) for a in attests], env or {})


# --- what is asked for ---------------------------------------------------------------------------

def test_buildx_adds_min_provenance_by_default_inline_only() -> None:
    assert spec() == ProvenanceSpec("min", inline_only=True)
    assert spec(env={"BUILDX_NO_DEFAULT_ATTESTATIONS": "false"}) == ProvenanceSpec("min", inline_only=True)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "t"])
def test_buildx_no_default_attestations_turns_the_default_off(value: str) -> None:
    assert spec(env={"BUILDX_NO_DEFAULT_ATTESTATIONS": value}) is None


def test_a_malformed_no_default_attestations_is_an_error_as_in_buildx() -> None:
    with pytest.raises(UsageError, match="invalid BUILDX_NO_DEFAULT_ATTESTATIONS"):
        spec(env={"BUILDX_NO_DEFAULT_ATTESTATIONS": "maybe"})


def test_provenance_false_disables_it_and_the_default() -> None:
    assert spec("type=provenance,disabled=true") is None


def test_an_explicit_provenance_is_max_unless_asked_min_and_never_inline_only() -> None:
    assert spec("type=provenance") == ProvenanceSpec("max")
    assert spec("type=provenance,mode=min") == ProvenanceSpec("min")
    assert spec("type=provenance,mode=max") == spec("type=provenance,mode=full") == ProvenanceSpec("max")


def test_an_sbom_is_refused_naming_the_scanner_bake_does_not_run() -> None:
    with pytest.raises(UsageError, match=r"type=sbom is not supported yet.*docker\.io/docker/buildkit-syft-scanner"):
        spec("type=sbom")
    assert spec("type=sbom,disabled=true") == ProvenanceSpec("min", inline_only=True)


@pytest.mark.parametrize(("entry", "words"), [("type=provenance,version=v0.2", "version=v0.2 is not supported yet"),
                                              ("type=provenance,mode=all", "mode=all"),
                                              ("type=provenance,builder-id=x", "builder-id is not supported yet")])
def test_what_bake_cannot_attest_is_refused(entry: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        spec(entry)


# --- which outputs carry it (behaviour.json) ---------------------------------------------------------

def out(type: str, **kw: Any) -> OutputSpec:
    return OutputSpec(type, dest="x.tar" if type in ("oci", "docker") else "", **kw)


def test_which_outputs_carry_it_as_buildkit_decides() -> None:
    default, explicit = spec(), spec("type=provenance,mode=min")
    assert BEHAVIOUR["oci default"]["attestation"] is attest.carried(default, "oci", 1) is False
    assert BEHAVIOUR["oci attest=type=provenance,mode=min"]["attestation"] is attest.carried(explicit, "oci", 1)
    assert BEHAVIOUR["oci default, platforms linux/amd64,linux/386"]["attestation"] is attest.carried(default, "oci", 2)
    assert BEHAVIOUR["registry default"]["attestation"] is attest.carried(default, "registry", 1) is True
    assert attest.carried(default, "image", 1) and not attest.carried(default, "docker", 1)
    assert not attest.carried(None, "registry", 1) and not attest.carried(explicit, "local", 1)


def test_what_buildkit_refuses_is_refused_before_the_build() -> None:
    check_outputs("app", spec(), [out("docker")], 1)  # recorded: rc 0, no attestation
    with pytest.raises(UsageError, match="docker exporter does not support exporting manifest lists"):
        check_outputs("app", spec("type=provenance,mode=max"), [out("docker")], 1)
    assert "manifest lists" in BEHAVIOUR["docker attest=type=provenance,mode=max"]["error"]
    with pytest.raises(UsageError, match='cannot export attestations with "oci-mediatypes=false"'):
        check_outputs("app", spec(), [out("image", push=True, oci_mediatypes=False)], 1)
    check_outputs("app", spec(), [out("oci", oci_mediatypes=False)], 1)  # inline-only: left out, no error
    check_outputs("app", None, [out("image", push=True, oci_mediatypes=False)], 1)


def test_provenance_json_in_files_outputs_is_not_supported_yet() -> None:
    check_outputs("app", spec(), [out("local")], 1)  # the default writes nothing there, as BuildKit
    with pytest.raises(UsageError, match="type=local: attest type=provenance is not supported yet"):
        check_outputs("app", spec("type=provenance,mode=min"), [out("local")], 1)


# --- what is written ----------------------------------------------------------------------------

def test_package_urls_as_buildkit_writes_them() -> None:
    linux = oci.Platform("linux", "amd64")
    assert attest.image_purl("127.0.0.1:5000/att/app:1", linux) == "pkg:docker/127.0.0.1%3A5000/att/app@1?platform=linux%2Famd64"
    assert attest.image_purl("docker.io/library/busybox:latest", linux) == "pkg:docker/busybox@latest?platform=linux%2Famd64"
    assert attest.image_purl("ghcr.io/o/r", None) == "pkg:docker/ghcr.io/o/r@latest"
    pinned = "busybox@sha256:" + "a" * 64
    assert attest.image_purl(pinned, linux) == f"pkg:docker/busybox?digest=sha256%3A{'a' * 64}&platform=linux%2Famd64"


RECORDED_FACTS = BuildFacts(
    dockerfile="Dockerfile", platform="linux/amd64", started=0.0, finished=0.0,
    args=(("GREETING", "hello"), ("SECRET_TOKEN", "x")), secrets=(("tok", True),),
    materials=(("pkg:docker/busybox@latest?platform=linux%2Famd64",
                "sha256:c84e0c1d73cb4b13673885cb7e6115aba7e06dfbb285dc4cc5b78fe3da0d4dbc"),),
    builder_platform="linux/amd64")


def comparable(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement without what differs from run to run (invocation id, times) and what bake
    does not record (the LLB definition and BuildKit's source map in max mode)."""
    s = copy.deepcopy(statement)
    meta = s["predicate"]["runDetails"]["metadata"]
    for key in ("invocationId", "startedOn", "finishedOn"):
        del meta[key]
    meta["buildkit_metadata"] = {}
    s["predicate"]["buildDefinition"]["internalParameters"].pop("buildConfig", None)
    return s


@pytest.mark.parametrize("mode", ["min", "max"])
def test_the_statement_is_buildkit_s_for_the_recorded_build(mode: str) -> None:
    golden = recorded(f"oci-{mode}.json")
    want = golden["attestations"][0]["statement"]
    image = oci.Descriptor.from_json(golden["index"]["manifests"][0])
    made = attest.statement(RECORDED_FACTS, mode, ["127.0.0.1:5000/att/app:1"], image)
    assert comparable(made) == comparable(want)
    assert list(made["predicate"]) == list(want["predicate"])  # field order too: Go's struct order
    assert len(made["predicate"]["runDetails"]["metadata"]["invocationId"]) == 25


def test_the_attestation_manifest_and_its_index_entry_are_byte_identical() -> None:
    golden = recorded("oci-min.json")
    image = oci.Descriptor.from_json(golden["index"]["manifests"][0])
    raw = oci.encode(golden["attestations"][0]["statement"])
    manifest, empty = attest.attestation_manifest(raw, image)
    entry = attest.index_entry(manifest, image)
    assert manifest.body == golden["attestations"][0]["manifest"]
    assert entry.to_json() == golden["index"]["manifests"][1]  # its digest too: the same bytes
    assert empty.decode() == golden["attestations"][0]["config"]
    assert attest.is_attestation(entry) and not attest.is_attestation(image)


def test_an_image_with_provenance_is_an_index_of_images_then_attestations(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    built = [Built(p, "2", ImageConfig()) for p in ("linux/amd64", "linux/386")]
    facts = [BuildFacts("Dockerfile", b.platform, 0.0, 1.0) for b in built]
    top = assemble(store, CountingLayers(store), built, OutputSpec("oci", "x.tar"), created=0.0,
                   provenance=("min", facts, ["app:1"]))
    index = json.loads(store.read(top.digest))
    shape = [(m["platform"]["os"], m.get("annotations", {}).get(attest.REFERENCE_TYPE)) for m in index["manifests"]]
    assert shape == [(p["os"], None) for p in (m["platform"] for m in recorded("oci-multi.json")["index"]["manifests"][:2])] \
        + [("unknown", "attestation-manifest")] * 2
    for image, att in zip(index["manifests"][:2], index["manifests"][2:], strict=True):
        assert att["annotations"][attest.REFERENCE_DIGEST] == image["digest"]
        layer = json.loads(store.read(att["digest"]))["layers"][0]
        statement = json.loads(store.read(layer["digest"]))
        assert statement["subject"][0]["digest"] == {"sha256": image["digest"][7:]}
        assert statement["subject"][0]["name"].endswith("platform=linux%2F" + image["platform"]["architecture"])
    one = assemble(store, CountingLayers(store), built[:1], OutputSpec("oci", "x.tar"), created=0.0,
                   provenance=("min", facts[:1], ["app:1"]))
    assert one.media_type == oci.INDEX  # one platform with provenance is an index too


class RecordedImages:
    """Answers ``recorded`` as bake's image store does for a pulled base; counts the questions."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def recorded(self, ref: object, platform: oci.Platform) -> oci.Document:
        self.asked.append(f"{ref} {platform}")
        return oci.Document(oci.MANIFEST, {}, b"busybox manifest")


def test_secrets_are_named_by_id_never_by_value(tmp_path: Path) -> None:
    from bake.app.outputs import Root, build_facts

    (tmp_path / "tok").write_text("s3cr3tvalue")
    base = Vertex(SourceOp("docker-image://docker.io/library/busybox:latest"), (), "linux/amd64")
    run = Vertex(ExecOp(("sh", "-c", "cat /run/secrets/tok"), (), "/", "", mounts=(
        Mount("/", input=0, output=True), Mount("/run/secrets/tok", "secret", secret_id="tok"),
        Mount("/run/secrets/key", "secret", secret_id="key", required=True))), (base,), "linux/amd64")
    target = Target(("name",), "app", args={"GREETING": "hello", "UNSET": None},
                    secret=(SecretEntry("tok", str(tmp_path / "tok")), SecretEntry("key", env="KEY_VALUE")))
    images = RecordedImages()
    facts = build_facts(target, Root("app", "linux/amd64", run, ImageConfig()), cast(Any, images), 1.0, 2.0)
    assert images.asked == ["docker.io/library/busybox:latest linux/amd64"]
    text = json.dumps(attest.statement(facts, "max", ["app:1"], oci.Descriptor(oci.MANIFEST, "sha256:" + "b" * 64, 1)))
    request = json.loads(text)["predicate"]["buildDefinition"]["externalParameters"]["request"]
    assert request["secrets"] == [{"id": "key"}, {"id": "tok", "optional": True}]
    assert request["args"] == {"build-arg:GREETING": "hello"}
    assert "s3cr3tvalue" not in text and "KEY_VALUE" not in text and str(tmp_path) not in text
    assert "secrets" not in json.dumps(attest.statement(facts, "min", ["app:1"], oci.Descriptor(oci.MANIFEST, "sha256:" + "b" * 64, 1)))
