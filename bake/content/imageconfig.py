"""The image configuration a build stage carries — the OCI image config's ``config`` fields and its
``history`` — and ``from_oci``, which reads them from an OCI image config document.

The frontend fills these in (ENV, WORKDIR, USER, …), the exporters write them out
(``bake.exporter.image``), base images' configs are read with ``from_oci``: a content type, so it
sits below all three.
"""

from __future__ import annotations

from typing import Any

from bake._record import record


@record
class History:
    """One history entry. ``created`` None: this build's own (stamped when exported); a base
    image's entries keep theirs ("" when they had none), as BuildKit copies them."""

    created_by: str
    empty_layer: bool
    comment: str = "buildkit.dockerfile.v0"
    created: str | None = None
    author: str = ""
    step: str = ""  # the name of the build step that made this entry's layer (never written out)


@record
class ImageConfig:
    """What ENV, WORKDIR, USER, LABEL, … have set so far. ``env`` keeps order, ``KEY=value``."""

    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    healthcheck: tuple[tuple[str, object], ...] | None = None
    stop_signal: str = ""
    shell: tuple[str, ...] = ()
    onbuild: tuple[str, ...] = ()
    history: tuple[History, ...] = ()
    args_escaped: bool = False  # BuildKit sets it with every CMD (Docker's Windows-era flag)
    author: str = ""  # MAINTAINER (the image's top-level "author")
    # Descriptions of the bottom layers that no history entry stands for (a local directory as
    # the base: "local source for x"), which BuildKit's exporter names in the entries it adds.
    unrecorded: tuple[str, ...] = ()

    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            k, _, v = item.partition("=")
            out[k] = v
        return out


def from_oci(doc: dict[str, Any]) -> ImageConfig:
    """An OCI image config document → the fields a Dockerfile stage inherits."""
    c: dict[str, Any] = doc.get("config") or {}
    history = tuple(History(str(h.get("created_by", "")), bool(h.get("empty_layer", False)), str(h.get("comment", "")),
                            str(h.get("created", "")), str(h.get("author", "")))
                    for h in doc.get("history") or [] if isinstance(h, dict))
    health = c.get("Healthcheck")
    return ImageConfig(
        env=tuple(c.get("Env") or ()), workdir=c.get("WorkingDir") or "", user=c.get("User") or "",
        labels=tuple(sorted((c.get("Labels") or {}).items())), exposed_ports=tuple(sorted(c.get("ExposedPorts") or {})),
        volumes=tuple(sorted(c.get("Volumes") or {})),
        entrypoint=tuple(c["Entrypoint"]) if c.get("Entrypoint") is not None else None,
        cmd=tuple(c["Cmd"]) if c.get("Cmd") is not None else None, stop_signal=c.get("StopSignal") or "",
        shell=tuple(c.get("Shell") or ()), onbuild=tuple(c.get("OnBuild") or ()), history=history,
        healthcheck=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in health.items())
        if isinstance(health, dict) else None,
        args_escaped=bool(c.get("ArgsEscaped")), author=str(doc.get("author") or ""),
    )
