"""A target's output as BuildKit's exporters take it: the exporter's type and attributes, and what
comes back to the client.

| bake output                  | BuildKit exporter | back to the client                       |
|------------------------------|-------------------|------------------------------------------|
| ``type=local,dest=d``        | ``tar``           | a tarball, unpacked into ``d`` by bake    |
| ``type=tar,dest=f``          | ``tar``           | the tarball, written to ``f``             |
| ``type=oci|docker,dest=f``   | ``oci``/``docker``| the image tarball, written to ``f``       |
| ``type=docker`` (``--load``) | ``docker``        | the tarball, loaded into the Docker engine|
| ``type=image[,push=true]``   | ``image``         | nothing (the daemon stores or pushes it)  |
| ``type=registry``            | ``image`` push    | nothing                                   |
| ``type=cacheonly``           | none              | nothing                                   |

A solve of a plain LLB definition carries no image config, so image exporters get it as the
``containerimage.config`` attribute: BuildKit's image exporters take attributes they do not know
as result metadata, which is where a frontend would have put the config (BuildKit v0.32.2,
``exporter/containerimage``). BuildKit fills in ``rootfs`` and the history entries' layer times.

On the ``docker`` driver image outputs go to the engine's own image store instead
(``bake.buildkit.drivers.docker.engine_export``: dockerd's ``moby`` exporter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bake._record import record
from bake.buildkit import NotSupportedRemote

IMAGE_TYPES = ("image", "registry", "oci", "docker")
TYPES = ("local", "tar", "cacheonly", *IMAGE_TYPES)
CONFIG_ATTR = "containerimage.config"  # BuildKit's exptypes.ExporterImageConfigKey
# bake's own attributes, meaningless to BuildKit's exporters
_BAKE_ONLY = ("dest", "multi-target")


@record
class Export:
    """One exporter of a solve; ``receive`` is how its bytes come back: "" (they do not),
    ``"file"`` (written to ``dest``), ``"unpack"`` (a tarball unpacked into the directory ``dest``) or
    ``"load"`` (a docker-format tarball loaded into the Docker engine: ``--load``)."""

    type: str
    attrs: tuple[tuple[str, str], ...]
    receive: str
    dest: str


def pushes(kind: str, attrs: Mapping[str, str]) -> bool:
    """Whether an image output is pushed to a registry."""
    return kind == "registry" or (kind == "image" and attrs.get("push") == "true")


def exporter(kind: str, dest: str, attrs: Mapping[str, str], tags: Sequence[str], config: bytes | None,
             epoch: int | None = None, by_digest: bool = False) -> Export | None:
    """The exporter of one output (None for ``cacheonly``). ``config`` is the image config document
    for image outputs; ``epoch`` is SOURCE_DATE_EPOCH, which dates the image as on the embedded worker.
    ``by_digest``: one platform of several, pushed without its tags (bake tags the index of all)."""
    if kind == "cacheonly":
        return None
    if kind in ("local", "tar"):
        return Export("tar", (), "unpack" if kind == "local" else "file", dest)
    if kind not in IMAGE_TYPES:
        raise NotSupportedRemote(f"output type={kind}")
    out = {k: v for k, v in attrs.items() if k not in _BAKE_ONLY}
    if kind in ("oci", "docker"):
        if out.get("tar", "true") != "true":
            raise NotSupportedRemote(f"output type={kind},tar=false (an OCI layout directory)")
        if dest == "-" or (not dest and kind == "oci"):
            raise NotSupportedRemote(f"output type={kind} without a file dest=")
    if kind == "registry":
        out["push"] = "true"
    if "name" not in out and tags:
        out["name"] = ",".join(tags)
    if out.get("push") == "true" and not out.get("name"):
        raise NotSupportedRemote(f"output type={kind}: pushing needs a name (tags = [...] or output name=)")
    if by_digest and out.get("push") == "true":  # BuildKit pushes untagged names only by digest
        out["push-by-digest"] = "true"
        out["name"] = ",".join(dict.fromkeys(_untagged(n) for n in out["name"].split(",") if n))
    if epoch is not None:
        out.setdefault("source-date-epoch", str(epoch))
    if config is not None:
        out[CONFIG_ATTR] = config.decode()
    if kind == "docker" and not dest:  # --load: the tarball comes back and is loaded into the Docker engine
        return Export("docker", tuple(sorted(out.items())), "load", "")
    return Export("image" if kind == "registry" else kind, tuple(sorted(out.items())),
                  "file" if kind in ("oci", "docker") else "", dest)


def _untagged(name: str) -> str:
    """``host:5000/repo:tag`` → ``host:5000/repo`` (a digest is dropped too)."""
    name = name.partition("@")[0]
    head, slash, last = name.rpartition("/")
    return head + slash + last.partition(":")[0]


def response_metadata(response: Mapping[str, str]) -> dict[str, object]:
    """buildx's ``--metadata-file`` keys from a solve's exporter response (the image's digest,
    config digest, descriptor and name), as buildx copies them."""
    import base64
    import contextlib
    import json

    out: dict[str, object] = {}
    for key in ("containerimage.digest", "containerimage.config.digest", "image.name"):
        if key in response:
            out[key] = response[key]
    raw = response.get("containerimage.descriptor")
    if raw:
        with contextlib.suppress(ValueError):
            out["containerimage.descriptor"] = json.loads(base64.b64decode(raw))
    return out
