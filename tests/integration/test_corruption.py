"""A damaged state root never ships wrong bytes: each kind of corruption, made by hand after a good
build, and the next builds either heal it (rc 0, a warning, an output whose blobs all match their
digests, checked by hashing and by skopeo) or fail with one clear error — never a traceback."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bake.errors import BakeError
from bake.progress.events import Event, Noted
from tests.integration.test_build import executed, project, run

# SOURCE_DATE_EPOCH: the config's bytes stay the same from build to build, so a damaged stored copy
# would be reused if nothing checked it; type=tar mounts the result snapshot's whole chain.
HCL = ('target "default" {\n  args = { SOURCE_DATE_EPOCH = "0" }\n'
       '  output = ["type=oci,dest=out/app.tar", "type=tar,dest=out/fs.tar"]\n}\n')
DOCKERFILE = "FROM {base}\nCOPY greeting.txt /greeting.txt\nRUN echo built > /built.txt\n"


def check_layout(tar_path: Path) -> dict[str, object]:
    """The image in an OCI layout tar, after checking every blob against its name and every blob the
    manifest names against the descriptor; returns the manifest, with the files of each layer."""
    blobs: dict[str, bytes] = {}
    with tarfile.open(tar_path) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.startswith("blobs/sha256/"):
                data = tar.extractfile(m).read()  # type: ignore[union-attr]
                assert hashlib.sha256(data).hexdigest() == m.name.rsplit("/", 1)[1], f"{m.name} is corrupt"
                blobs["sha256:" + m.name.rsplit("/", 1)[1]] = data
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    top = index["manifests"][0]
    manifest = json.loads(blobs[top["digest"]])
    for d in (top, manifest["config"], *manifest["layers"]):
        assert d["digest"] in blobs and len(blobs[d["digest"]]) == d["size"]
    files = []
    for layer in manifest["layers"]:
        import gzip
        import io

        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blobs[layer["digest"]]))) as t:
            files.append(sorted(n for n in t.getnames()))
    # an independent reader agrees
    subprocess.run(["skopeo", "inspect", f"oci-archive:{tar_path}"], check=True, capture_output=True)
    return {"manifest": manifest, "files": files, "digest": top["digest"]}


def warnings(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Noted) and e.level == "warning"
            and "No output specified" not in e.text]


@pytest.fixture(scope="module")
def primed(busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """A project and a root after one good build (copied for each test)."""
    base = tmp_path_factory.mktemp("primed")
    d = project(base, HCL, DOCKERFILE.format(base=busybox_image), {"greeting.txt": "hello\n"})
    run(d, base / "root")
    return d, base / "root", check_layout(d / "out/app.tar")


@pytest.fixture
def copy(primed: tuple[Path, Path, dict[str, object]], tmp_path: Path) -> tuple[Path, Path, dict[str, object]]:
    d, root, good = primed
    subprocess.run(["cp", "-a", str(d), str(tmp_path / "project")], check=True)
    subprocess.run(["cp", "-a", str(root), str(tmp_path / "root")], check=True)
    shutil.rmtree(tmp_path / "project/out")
    return tmp_path / "project", tmp_path / "root", good


def blob(root: Path, digest: str) -> Path:
    return root / "content/blobs/sha256" / digest.partition(":")[2]


def halve(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def garble(p: Path) -> None:
    data = bytearray(p.read_bytes())
    for i in range(0, len(data), max(1, len(data) // 16)):
        data[i] ^= 0xFF
    p.write_bytes(bytes(data))


def layers(good: dict[str, object]) -> list[str]:
    return [x["digest"] for x in good["manifest"]["layers"]]  # type: ignore[index]


def snapshot_of(root: Path, marker: str) -> Path:
    """The image's snapshot whose own changes hold ``marker`` (a path inside its fs); the build
    context's snapshot has no parent and is not one of them."""
    for s in sorted((root / "snapshots").iterdir()):
        if (s / "fs" / marker).exists() and ((s / "parent").exists() or marker == "bin/busybox"):
            return s
    raise AssertionError(f"no snapshot holds {marker}")


def garble_json(name: str, text: str) -> Callable[[Path, dict[str, object]], None]:
    def damage(root: Path, good: dict[str, object]) -> None:
        assert (root / name).exists()
        (root / name).write_text(text)

    return damage


CASES: dict[str, Callable[[Path, dict[str, object]], None]] = {
    "built layer blob halved": lambda root, good: halve(blob(root, layers(good)[-1])),
    "built layer blob garbled": lambda root, good: garble(blob(root, layers(good)[-1])),
    "pulled layer blob halved": lambda root, good: halve(blob(root, layers(good)[0])),
    "pulled layer blob garbled": lambda root, good: garble(blob(root, layers(good)[0])),
    "every layer blob deleted": lambda root, good: [blob(root, d).unlink() for d in layers(good)],  # type: ignore[func-returns-value]
    "image manifest garbled": lambda root, good: garble(blob(root, str(good["digest"]))),
    "image config halved": lambda root, good: halve(blob(root, good["manifest"]["config"]["digest"])),  # type: ignore[index]
    "run snapshot fs deleted": lambda root, good: shutil.rmtree(snapshot_of(root, "built.txt") / "fs"),
    "run snapshot parent garbled": lambda root, good: (snapshot_of(root, "built.txt") / "parent").write_text("x7"),
    "copy snapshot parent is itself": lambda root, good: (snapshot_of(root, "greeting.txt") / "parent").write_text(
        snapshot_of(root, "greeting.txt").name),
    "base snapshot fs deleted": lambda root, good: shutil.rmtree(snapshot_of(root, "bin/busybox") / "fs"),
    "base snapshot parent points elsewhere": lambda root, good: (snapshot_of(root, "bin/busybox") / "parent")
    .write_text(snapshot_of(root, "built.txt").name),
    "committed marker deleted": lambda root, good: (snapshot_of(root, "built.txt") / "committed").unlink(),
    "layerblobs.json is a list": garble_json("layerblobs.json", "[1, 2]"),
    "layerblobs.json entries of the wrong shape": garble_json("layerblobs.json", '{"1": 5, "2 gzip None None": {}}'),
    "layerblobs.json not JSON": garble_json("layerblobs.json", '{"1": '),
    "resolved.json of the wrong shape": garble_json("resolved.json", '{"x": [1]}'),
    "resolved.json a string": garble_json("resolved.json", '"sha256:abc"'),
    "layers.json of the wrong shape": garble_json("layers.json", '{"a": {"b": 1}}'),
    "statcache.json of the wrong shape": garble_json("statcache.json", '{"/x": "y", "/z": [1, 2, 3, "q"]}'),
    "statcache.json a list": garble_json("statcache.json", "[[]]"),
}


def cache_entries(root: Path) -> list[Path]:
    return [p for p in (root / "cache").rglob("*") if p.is_file()]


CASES["cache entry garbled"] = lambda root, good: [p.write_text("not-a-snapshot") for p in cache_entries(root)]  # type: ignore[func-returns-value]
CASES["cache entries point at a missing snapshot"] = lambda root, good: [  # type: ignore[func-returns-value]
    p.write_text("999") for p in cache_entries(root)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_next_builds_are_correct_after(case: str, copy: tuple[Path, Path, dict[str, object]]) -> None:
    d, root, good = copy
    CASES[case](root, good)
    for attempt in range(2):  # the build that finds the damage, and the one after it
        events: list[Event] = []
        run(d, root, events=events)
        got = check_layout(d / "out/app.tar")
        assert got["files"] == good["files"], case
        with tarfile.open(d / "out/fs.tar") as fs:
            assert fs.extractfile("built.txt").read() == b"built\n"  # type: ignore[union-attr]
            assert fs.extractfile("greeting.txt").read() == b"hello\n"  # type: ignore[union-attr]
            assert "bin/busybox" in fs.getnames()
        assert len(got["files"]) == 3  # type: ignore[arg-type]
        if attempt == 1:
            assert warnings(events) == [], case  # healed for good: nothing to report any more


def test_damage_is_reported_as_a_warning(copy: tuple[Path, Path, dict[str, object]]) -> None:
    d, root, good = copy
    halve(blob(root, layers(good)[-1]))
    shutil.rmtree(snapshot_of(root, "greeting.txt") / "fs")
    (root / "resolved.json").write_text("[]")
    events: list[Event] = []
    results = run(d, root, events=events)
    said = "\n".join(warnings(events))
    assert "snapshot" in said and "lost its fs directory" in said
    assert "resolved.json is not a JSON object" in said
    assert executed(results) >= 2  # the COPY and the RUN on it were built again
    got = check_layout(d / "out/app.tar")
    assert got["files"] == good["files"]


def test_a_damaged_built_layer_comes_back_with_the_same_digest(copy: tuple[Path, Path, dict[str, object]]) -> None:
    """Layers are deterministic: the rebuilt blob has its old name; the pulled one is the registry's."""
    d, root, good = copy
    garble(blob(root, layers(good)[-1]))
    halve(blob(root, layers(good)[0]))  # the base layer comes again from the registry
    events: list[Event] = []
    run(d, root, events=events)
    assert layers(check_layout(d / "out/app.tar")) == layers(good)  # the config differs: it has a new date
    said = warnings(events)
    assert len([w for w in said if layers(good)[-1] in w]) == 1 and any(layers(good)[0] in w for w in said)


def test_a_killed_builds_temporary_files_are_swept(copy: tuple[Path, Path, dict[str, object]]) -> None:
    from bake.app.prune import prune

    d, root, _ = copy
    dead = 2 ** 22 + 12345  # above pid_max's default: no such process
    litter = [root / "cache" / "ab" / f"cd.{dead}.1.0.tmp", root / f"layerblobs.json.{dead}.1.0.tmp",
              root / "content/ingest" / f"blob.{dead}.1.0.tmp", root / "snapshots" / f".last-id.{dead}.1.3.tmp"]
    for p in litter:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half")
    live = root / "cache" / "ab" / f"cd.{os.getpid()}.1.0.tmp"  # a writer that still runs
    live.write_text("mine")
    killed = root / "run" / f"build-{dead}-x"  # what the killed build left: its scratch directory
    killed.mkdir(parents=True)
    run(d, root)
    assert [p for p in litter if p.exists()] == [] and live.exists()
    for p in litter:
        p.write_text("half")
    prune(str(root))
    assert [p for p in litter if p.exists()] == [] and live.exists()


def test_a_stale_record_never_names_a_new_snapshot(busybox_image: str, tmp_path: Path) -> None:
    """Pruning everything, then building something else: ids are not reused, so layerblobs.json's
    records of the pruned snapshots cannot hand their old blobs to new ones."""
    from bake.app.prune import prune

    d = project(tmp_path, HCL, DOCKERFILE.format(base=busybox_image), {"greeting.txt": "one\n"})
    root = tmp_path / "root"
    run(d, root)
    before = set(os.listdir(root / "snapshots"))
    prune(str(root), until=0.0)
    (d / "greeting.txt").write_text("two\n")
    run(d, root)
    after = {n for n in os.listdir(root / "snapshots") if n.isdigit()}
    assert not after & {n for n in before if n.isdigit()}
    with tarfile.open(d / "out/app.tar") as tar:
        manifest = check_layout(d / "out/app.tar")["manifest"]
        copy_layer = manifest["layers"][1]["digest"].partition(":")[2]  # type: ignore[index]
        import gzip
        import io

        data = gzip.decompress(tar.extractfile(f"blobs/sha256/{copy_layer}").read())  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert t.extractfile("greeting.txt").read() == b"two\n"  # type: ignore[union-attr]


@pytest.mark.root
def test_no_traceback_when_an_export_cannot_be_repaired(copy: tuple[Path, Path, dict[str, object]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A blob that stays damaged (here: every repair fails) is one clear error, and nothing is written."""
    from bake.worker.images import ImageStore

    d, root, good = copy
    garble(blob(root, layers(good)[-1]))
    monkeypatch.setattr(ImageStore, "repair", lambda self, err: False)
    with pytest.raises(BakeError, match="is corrupt"):
        run(d, root)
    assert not (d / "out/app.tar").exists()


def test_pushes_and_cache_exports_never_send_a_damaged_blob(copy: tuple[Path, Path, dict[str, object]],
                                                             registry: str) -> None:
    d, root, good = copy
    tag = f"{registry}/corrupt/app:1"
    (d / "docker-bake.hcl").write_text(
        f'target "default" {{\n  args = {{ SOURCE_DATE_EPOCH = "0" }}\n  tags = ["{tag}"]\n  output = ["type=registry"]\n'
        '  cache-to = ["type=local,dest=cache,mode=max"]\n}\n')
    garble(blob(root, layers(good)[-1]))
    halve(blob(root, layers(good)[1]))
    events: list[Event] = []
    run(d, root, events=events)
    assert len(warnings(events)) == 2
    pulled = d / "pulled"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{tag}", f"oci:{pulled}:x"],
                   check=True, capture_output=True)  # skopeo verifies every blob's digest as it copies
    for layout in (pulled, d / "cache"):
        for p in (layout / "blobs/sha256").iterdir():
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name, f"{p} is corrupt"
    manifest = json.loads((pulled / "blobs/sha256" / json.loads((pulled / "index.json").read_text())
                           ["manifests"][0]["digest"].partition(":")[2]).read_text())
    assert [x["digest"] for x in manifest["layers"]] == layers(good)
